//! `volley report` (issue 16): a result file → one self-contained HTML page. The page is
//! read as XML (every chart a well-formed SVG with its title, axis labels and drawn lines;
//! nothing that would load from elsewhere) and, where Chromium is installed (CI installs
//! it), rendered headless into a screenshot whose charts must show.

use std::path::{Path, PathBuf};
use std::time::Duration;

use roxmltree::{Document, Node, ParsingOptions};
use volley_testsupport::{Reply, Scratch, ServerConfig, TestServer, have, skip};

use crate::volley;

/// The three charts of every page, by title.
const CHARTS: [&str; 3] = [
    "Throughput and errors over time",
    "Reply latency over time",
    "Latency by percentile",
];

/// The colour of a single run's replies/s, p90 and service-time lines (`#1f77b4`).
const BLUE: [u8; 3] = [0x1f, 0x77, 0xb4];

/// Runs volley against `srv` with `args`, writing the result file `name` in `dir`.
fn result_file(srv: &TestServer, dir: &Scratch, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.path(name);
    let out = volley()
        .arg(srv.url("/r"))
        .args(args.iter().copied())
        .args(["-q", "--out", path.to_str().unwrap()])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    path
}

fn server() -> TestServer {
    TestServer::start(ServerConfig {
        reply: Reply::ok("report"),
        delay: Some(Duration::from_millis(1)),
        ..ServerConfig::default()
    })
}

/// `volley report ARGS…`, which must succeed; returns its stderr.
fn report(args: &[&Path]) -> String {
    let out = volley()
        .arg("report")
        .args(args.iter().map(|p| p.to_str().unwrap().to_string()))
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.stderr
}

/// The page parsed as XML: it is written well-formed, so a browser and a parser agree.
fn parse(html: &str) -> Document<'_> {
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(html, options)
        .unwrap_or_else(|e| panic!("the page is not well-formed: {e}\n{html}"))
}

fn named<'a>(doc: &'a Document<'a>, tag: &str) -> Vec<Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.tag_name().name() == tag)
        .collect()
}

fn text(n: Node<'_, '_>) -> String {
    n.descendants()
        .filter(Node::is_text)
        .filter_map(|d| d.text())
        .collect()
}

/// Nothing on the page loads from elsewhere: no script, no stylesheet link, no image,
/// no `src` or external `href` anywhere.
fn assert_self_contained(doc: &Document<'_>) {
    for n in doc.descendants().filter(Node::is_element) {
        let tag = n.tag_name().name();
        assert!(
            !["script", "link", "img", "iframe", "object", "embed"].contains(&tag),
            "<{tag}> on the page"
        );
        assert!(n.attribute("src").is_none(), "src on <{tag}>");
        assert!(n.attribute("href").is_none(), "href on <{tag}>");
    }
    assert_eq!(named(doc, "style").len(), 1, "the styles are inline");
}

/// The points of a `<path>`'s `d` (`M x,y L x,y …`).
fn path_points(d: &str) -> Vec<(f64, f64)> {
    d.split(['M', 'L'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap_or_else(|| panic!("a point: {p}"));
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

/// Every chart is there and drawn: an SVG (well-formed on its own, too) with its title,
/// both axis labels and at least `lines[i]` lines of two or more points inside its frame.
fn assert_charts(html: &str, doc: &Document<'_>, lines: [usize; 3]) {
    let headings: Vec<String> = named(doc, "h3").into_iter().map(text).collect();
    assert_eq!(headings, CHARTS, "a heading per chart");
    let svgs = named(doc, "svg");
    assert_eq!(svgs.len(), 3, "three charts");
    for ((svg, title), want) in svgs.into_iter().zip(CHARTS).zip(lines) {
        let alone = &html[svg.range()];
        Document::parse(alone).unwrap_or_else(|e| panic!("{title}: not XML on its own: {e}"));
        let own_title = svg.children().find(|c| c.has_tag_name("title"));
        assert_eq!(own_title.map(text).as_deref(), Some(title));
        let labels = svg
            .descendants()
            .filter(|n| n.attribute("class") == Some("axis-label"))
            .count();
        assert!(labels >= 2, "{title}: {labels} axis labels");
        let view: Vec<f64> = svg
            .attribute("viewBox")
            .unwrap()
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        let drawn: Vec<Vec<(f64, f64)>> = svg
            .descendants()
            .filter(|n| n.attribute("class") == Some("series"))
            .map(|n| path_points(n.attribute("d").unwrap()))
            .collect();
        assert!(drawn.len() >= want, "{title}: {} lines", drawn.len());
        for points in &drawn {
            assert!(points.len() >= 2, "{title}: a line of {points:?}");
            let inside =
                |&(x, y): &(f64, f64)| (0.0..=view[2]).contains(&x) && (0.0..=view[3]).contains(&y);
            assert!(points.iter().all(inside), "{title}: {points:?}");
        }
    }
}

#[test]
fn a_report_is_one_self_contained_page_with_every_chart() {
    let srv = server();
    let dir = Scratch::new("html");
    let run = result_file(
        &srv,
        &dir,
        "run.json",
        &[
            "-w",
            "2",
            "-c",
            "4",
            "-d",
            "2s",
            "--interval",
            "250ms",
            "--check",
            "p99 < 10s",
        ],
    );
    let stderr = report(&[&run]);
    let page = dir.path("run.html");
    assert!(
        stderr.contains(&format!("wrote {}", page.display())),
        "says where: {stderr}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let doc = parse(&html);
    assert_self_contained(&doc);
    // replies/s and errors/s; p50, p90, p99 and max; the reply latency and, a closed loop,
    // its corrected estimate.
    assert_charts(&html, &doc, [2, 4, 2]);
    let all = text(doc.root_element());
    for want in [
        "/r",
        "GET",
        "Slots (-c)",
        "4",
        "closed loop",
        "p99 < 10s",
        "pass",
        "errors/s",
        "reply, corrected* (closed loop: with what stalls hid, an estimate)",
        "*Corrected: a closed loop sends nothing",
    ] {
        assert!(all.contains(want), "no '{want}' on the page");
    }
    let workers = named(&doc, "tbody").last().unwrap().children().count();
    assert_eq!(workers, 2, "a row per worker");
    assert!(!all.contains("no data"), "every chart has data");

    screenshot_is_not_blank(&page, &dir);
}

/// Chromium renders the page headless (no network: every background service off) into
/// a 1200 × 2400 screenshot: it must not be blank, and the blue of the replies, p90 and
/// service-time lines (and their legend swatches) must show in three separate bands, one
/// per chart.
fn screenshot_is_not_blank(page: &Path, dir: &Scratch) {
    const TEST: &str = "html::a_report_is_one_self_contained_page_with_every_chart";
    if !have("chromium") {
        skip(TEST, "no chromium (Debian package chromium)");
        return;
    }
    let shot = dir.path("shot.png");
    let profile = dir.path("chromium-profile");
    let out = volley_testsupport::Volley::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .args([
            "--window-size=1200,2400".to_string(),
            format!("file://{}", page.display()),
        ])
        .deadline(Duration::from_secs(60))
        .run();
    assert_eq!(out.code, Some(0), "chromium: {}", out.stderr);
    let (width, height, rgb) = decode_png(&shot);
    assert_eq!((width, height), (1200, 2400));
    let pixels = rgb.len();
    let non_white = rgb.iter().filter(|p| p.iter().any(|&c| c < 235)).count();
    assert!(
        non_white * 100 > pixels * 3,
        "the screenshot is nearly blank: {non_white} of {pixels} pixels not white"
    );
    let blue_rows: Vec<usize> = (0..height as usize)
        .filter(|&y| {
            rgb[y * width as usize..(y + 1) * width as usize]
                .iter()
                .any(|p| p.iter().zip(BLUE).all(|(&c, b)| c.abs_diff(b) < 30))
        })
        .collect();
    let bands = 1 + blue_rows.windows(2).filter(|w| w[1] - w[0] > 60).count();
    assert!(
        !blue_rows.is_empty() && bands >= 3,
        "blue lines in {bands} bands of rows, want one per chart: {blue_rows:?}"
    );
}

/// The PNG at `path` as (width, height, RGB pixels).
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path).expect("chromium wrote the screenshot");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}

#[test]
fn an_overlay_draws_each_file_and_open_loop_response_time() {
    let srv = server();
    let dir = Scratch::new("html-overlay");
    let closed = result_file(&srv, &dir, "closed.json", &["-c", "2", "-d", "1s"]);
    let open = result_file(
        &srv,
        &dir,
        "open.json",
        &["--rate", "200", "-c", "8", "-d", "1s"],
    );
    let page = dir.path("both.html");
    report(&[&closed, &open, Path::new("-o"), &page]);
    let html = std::fs::read_to_string(&page).unwrap();
    let doc = parse(&html);
    assert_self_contained(&doc);
    // Two files: replies/s and errors/s each; four percentiles each; the closed run's
    // service time and corrected estimate, the open run's service and response time.
    assert_charts(&html, &doc, [4, 8, 4]);
    for svg in named(&doc, "svg") {
        let legend: String = svg
            .descendants()
            .filter(|n| n.attribute("class") == Some("legend"))
            .map(text)
            .collect();
        for file in [&closed, &open] {
            let name = file.file_name().unwrap().to_string_lossy();
            assert!(
                legend.contains(&*name),
                "{name} not in the legend: {legend}"
            );
        }
    }
    let all = text(doc.root_element());
    assert!(all.contains("response time (scheduled start → complete)"));
    assert!(all.contains("open loop: 200.0 sessions/s scheduled"));
    assert!(all.contains("2 runs overlaid"));
}

#[test]
fn a_file_without_data_gives_notes_not_broken_charts() {
    let dir = Scratch::new("html-empty");
    let bare = dir.file(
        "bare.json",
        r#"{"schema": 2, "url": "http://127.0.0.1:1/"}"#,
    );
    let out = volley()
        .args(["report", bare.to_str().unwrap(), "-o", "-"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let doc = parse(&out.stdout);
    assert!(named(&doc, "svg").is_empty());
    let notes = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("nodata"))
        .count();
    assert_eq!(notes, 4, "three charts and the workers");
    assert!(
        !dir.path("bare.html").exists(),
        "-o - writes to stdout only"
    );
}

#[test]
fn bad_result_files_are_refused_with_the_file_and_exit_2() {
    let dir = Scratch::new("html-bad");
    let cases = [
        (
            dir.file("broken.json", "{\n  \"schema\": 2,\n  oops\n}"),
            "broken.json:3:3: not valid JSON",
        ),
        (
            dir.file("old.json", r#"{"schema": 1, "replies": {"total": 1}}"#),
            "old.json: a schema 1 result has no histograms",
        ),
        (
            dir.file("text.json", "Total: connections 5"),
            "text.json:1:1: not valid JSON",
        ),
        (dir.path("missing.json"), "cannot read the result file"),
    ];
    for (file, want) in &cases {
        let out = volley().args(["report", file.to_str().unwrap()]).run();
        assert_eq!(out.code, Some(2), "{}: {}", file.display(), out.stderr);
        assert!(out.stderr.contains(want), "want '{want}': {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    assert!(
        volley()
            .args(["report", cases[1].0.to_str().unwrap()])
            .run()
            .stderr
            .contains("--out"),
        "says how to get a schema 2 file"
    );
    let written = std::fs::read_dir(dir.path(".")).unwrap().count();
    assert_eq!(written, 3, "no page written for a refused file");
}
