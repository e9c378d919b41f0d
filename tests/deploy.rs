//! deploy/: the command lines the Kubernetes manifests run are volley command lines that
//! parse, with the share of each pod (`--client I/N`) and its result file, and the merge
//! step reads exactly those files. The cluster itself is stood in for by the loopback
//! N-clients merge test (tests/merge.rs).

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

fn manifest(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The load Job's N (`completions:`), which must also be its `parallelism:` (the shares
/// run together).
fn pods(yaml: &str) -> u32 {
    let field = |key: &str| -> u32 {
        yaml.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} N"))
    };
    let n = field("completions:");
    assert_eq!(field("parallelism:"), n, "every share runs at once");
    n
}

#[test]
fn the_load_job_runs_one_share_of_one_schedule_per_pod() {
    let yaml = manifest("load-job.yaml");
    let n = pods(&yaml);
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

#[test]
fn the_merge_job_merges_every_pods_result_file() {
    let n = pods(&manifest("load-job.yaml"));
    let yaml = manifest("merge-job.yaml");
    let command = command_of(&yaml);
    // `sh -c` so the shell expands the glob; `exec` so volley's exit code is the pod's.
    assert_eq!(command[..2], ["/bin/sh", "-c"], "{command:?}");
    let script: Vec<&str> = command[2].split_whitespace().collect();
    assert_eq!(script[..2], ["exec", "/usr/local/bin/volley"], "{script:?}");
    // The shell's expansion of the glob once every pod has written its file.
    let files: Vec<String> = (0..n).map(|i| format!("/results/part-{i}.json")).collect();
    let mut args = vec!["volley".to_string()];
    for word in &script[2..] {
        if *word == "/results/part-*.json" {
            args.extend(files.iter().cloned());
        } else {
            args.push((*word).to_string());
        }
    }
    let parsed = volley_config::parse(args.iter().map(String::as_str));
    let Ok(volley_config::Command::Merge(spec)) = parsed else {
        panic!("{args:?} is not a volley merge command line: {parsed:?}");
    };
    let files: Vec<std::path::PathBuf> = files.iter().map(Into::into).collect();
    assert_eq!(spec.files, files, "every share's file, each once");
    assert_eq!(spec.out.as_deref(), Some(Path::new("/results/merged.json")));
    // Both Jobs mount the same claim.
    for job in ["load-job.yaml", "merge-job.yaml"] {
        assert!(
            manifest(job).contains("claimName: volley-results"),
            "{job} mounts volley-results"
        );
    }
}
