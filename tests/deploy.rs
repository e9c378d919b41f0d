//! deploy/: the command lines the Kubernetes manifests run are volley command lines that
//! parse, with the share of each pod (`--client I/N`) and its result file. The cluster
//! itself is stood in for by the loopback N-clients merge test (tests/results.rs).

use std::path::Path;

/// The items of the first `command:` list in `yaml` (the manifests keep one item per line,
/// `- value` or `- "value"`).
fn command_of(yaml: &str) -> Vec<String> {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "command:").skip(1);
    let mut out = Vec::new();
    for line in lines.by_ref() {
        let Some(item) = line.trim().strip_prefix("- ") else {
            break;
        };
        out.push(item.trim_matches('"').to_string());
    }
    out
}

#[test]
fn the_load_job_runs_one_share_of_one_schedule_per_pod() {
    let yaml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/load-job.yaml"),
    )
    .expect("deploy/kubernetes/load-job.yaml");
    let n: u32 = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("completions: "))
        .and_then(|v| v.parse().ok())
        .expect("completions: N");
    let command = command_of(&yaml);
    assert_eq!(command[0], "/usr/local/bin/volley", "{command:?}");
    for i in 0..n {
        // What Kubernetes does: $(JOB_COMPLETION_INDEX) becomes the pod's index. The
        // cluster's target is replaced by a loopback address (names are resolved when
        // the command line is read).
        let args: Vec<String> = command
            .iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", &i.to_string()))
            .map(|a| a.replace("target.default.svc.cluster.local", "127.0.0.1"))
            .collect();
        let parsed = volley_config::parse(args.iter().map(String::as_str));
        let Ok(volley_config::Command::Run(spec)) = parsed else {
            panic!("pod {i}: {args:?} does not parse: {parsed:?}");
        };
        let open = spec.open_loop.as_ref().expect("an open-loop schedule");
        assert_eq!(open.client, (i, n), "pod {i} runs share {i} of {n}");
        assert!(spec.seed_given, "every pod the same seed");
        assert_eq!(
            spec.out.as_deref(),
            Some(Path::new(&format!("/results/part-{i}.json")))
        );
    }
}
