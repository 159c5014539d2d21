//! What a kubectl user expects of a tool: shell completions (bash's sourced and exercised),
//! a man page, `kubectl podsec` as a plugin (the real kubectl finds it on PATH), a krew
//! manifest krew would accept, and the cluster of the current kubeconfig context.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::process::Command;

use util::podsec;

#[test]
fn completion_scripts_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _podsec"),
        ("zsh", "#compdef podsec"),
        ("fish", "complete -c podsec"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = podsec(&["completion", shell], b"");
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..run.stdout.len().min(400)]
        );
        for sub in ["check", "fix", "audit", "netpol"] {
            assert!(run.stdout.contains(sub), "{shell} completes {sub}");
        }
    }
}

#[test]
fn bash_completion_is_sourced_and_completes_subcommands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("podsec.bash");
    std::fs::write(&script, podsec(&["completion", "bash"], b"").stdout).unwrap();
    let bash = |body: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("source {}; {body}", script.display()))
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        bash("complete -p podsec").trim(),
        "complete -o bashdefault -o default -o nosort -F _podsec podsec"
    );
    let words = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        bash(&format!(
            "COMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; _podsec podsec '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2]
        ))
    };
    let subcommands = words("podsec f");
    assert!(subcommands.lines().any(|l| l == "fix"), "{subcommands}");
    let flags = words("podsec fix --");
    for flag in ["--level", "--write", "--remove-capabilities"] {
        assert!(flags.lines().any(|l| l == flag), "{flag} in {flags}");
    }
    let levels = words("podsec check --level r");
    assert!(levels.lines().any(|l| l == "restricted"), "{levels}");
}

#[test]
fn man_page_covers_the_subcommands() {
    let run = podsec(&["man"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(".ie") || run.stdout.contains(".TH podsec 1"),
        "{}",
        &run.stdout[..200]
    );
    for page in [
        ".TH podsec-check 1",
        ".TH podsec-fix 1",
        ".TH podsec-serve 1",
    ] {
        assert!(run.stdout.contains(page), "{page}");
    }
    // man renders it (groff is what man uses; a broken page prints warnings).
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("podsec.1");
    std::fs::write(&page, &run.stdout).unwrap();
    if let Ok(out) = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    {
        if out.status.success() {
            assert!(String::from_utf8_lossy(&out.stdout).contains("podsec"));
        }
    }
}

#[test]
fn kubectl_runs_it_as_a_plugin_and_help_says_kubectl_podsec() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-podsec");
    std::fs::copy(env!("CARGO_BIN_EXE_podsec"), &plugin).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("kubectl")
        .args(["podsec", "--help"])
        .env("PATH", &path)
        .output()
        .expect("kubectl runs (the brief promises it on the machine)");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{help}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(help.contains("Usage: kubectl podsec <COMMAND>"), "{help}");
    let out = Command::new("kubectl")
        .args(["podsec", "check", "--help"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: kubectl podsec check"));
    // A wrong flag's error names the plugin too.
    let out = Command::new("kubectl")
        .args(["podsec", "check", "--no-such-flag"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("kubectl podsec check"));
    // Invoked as itself, it is podsec.
    assert!(podsec(&["--help"], b"")
        .stdout
        .contains("Usage: podsec <COMMAND>"));
}

/// Krew's manifest rules (`pkg/index/validation` in kubernetes-sigs/krew): the kind and API
/// version, a plugin name that is the file's, a semver version with `v`, a short description,
/// and per platform a selector, an https URI of an archive, a lowercase hex sha256 and the
/// binary, which for a kubectl plugin is `kubectl-<name>`.
#[test]
fn the_krew_manifest_follows_krews_rules() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/krew/podsec.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let m: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(
        m["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(m["kind"], "Plugin");
    let name = m["metadata"]["name"].as_str().unwrap();
    assert_eq!(name, "podsec");
    assert!(name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    let version = m["spec"]["version"].as_str().unwrap();
    let semver = version.strip_prefix('v').unwrap();
    assert_eq!(
        semver
            .split('.')
            .filter(|p| p.parse::<u32>().is_ok())
            .count(),
        3,
        "{version}"
    );
    assert_eq!(
        version,
        format!("v{}", env!("CARGO_PKG_VERSION")),
        "the manifest follows the crate"
    );
    let short = m["spec"]["shortDescription"].as_str().unwrap();
    assert!(!short.is_empty() && short.len() <= 80, "{short}");
    assert!(!m["spec"]["homepage"].as_str().unwrap().is_empty());
    let platforms = m["spec"]["platforms"].as_array().unwrap();
    assert!(!platforms.is_empty());
    for p in platforms {
        let labels = p["selector"]["matchLabels"].as_object().unwrap();
        assert!(
            labels.contains_key("os") && labels.contains_key("arch"),
            "{p}"
        );
        let uri = p["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("https://") && (uri.ends_with(".tar.gz") || uri.ends_with(".zip")),
            "{uri}"
        );
        let sha = p["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64
                && sha
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{sha}"
        );
        assert_eq!(p["bin"], format!("kubectl-{name}"));
        for f in p["files"].as_array().unwrap() {
            assert!(
                !f["from"].as_str().unwrap().is_empty() && !f["to"].as_str().unwrap().is_empty()
            );
        }
    }
}

/// `audit` with no input reads the cluster of `KUBECONFIG` (as kubectl does); `--context`
/// picks another context of it.
#[test]
fn audit_reads_the_kubeconfig_context_like_kubectl() {
    let snapshot = serde_json::json!([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "team"},
         "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    ]);
    let (_dir, kubeconfig) = util::list_stub(snapshot.as_array().unwrap().clone(), None);
    let run = util::podsec_env(
        &["audit", "-o", "json"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["summary"]["pods"], 1);

    // A kubeconfig whose current context is unreachable, and a `stub` context that works.
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let two = text
        .replace("current-context: stub", "current-context: gone")
        .replace(
            "contexts: [",
            "contexts: [{name: gone, context: {cluster: gone, user: stub}}, ",
        )
        .replace(
            "clusters: [",
            "clusters: [{name: gone, cluster: {server: \"http://127.0.0.1:9\"}}, ",
        );
    let config = kubeconfig.with_file_name("two");
    std::fs::write(&config, two).unwrap();
    let config = config.to_str().unwrap();
    let gone = podsec(&["audit", "--kubeconfig", config, "-o", "json"], b"");
    assert_eq!(gone.code, 2, "{}", gone.stdout);
    let stub = podsec(
        &[
            "audit",
            "--kubeconfig",
            config,
            "--context",
            "stub",
            "-o",
            "json",
        ],
        b"",
    );
    assert_eq!(stub.code, 0, "{}", stub.stderr);
    assert_eq!(stub.json()["summary"]["pods"], 1);
    let via_env = util::podsec_env(
        &["audit", "--context", "stub", "-o", "json"],
        &[("KUBECONFIG", config)],
    );
    assert_eq!(via_env.code, 0, "{}", via_env.stderr);
    // Files given: the kubeconfig is not consulted.
    let file = util::podsec_env(
        &["audit", "-", "-o", "json"],
        &[("KUBECONFIG", "/nonexistent")],
    );
    assert_eq!(file.code, 0, "{}", file.stderr);
    assert_eq!(file.json()["summary"]["pods"], 0);
    assert!(!file.stderr.contains("kubeconfig"), "{}", file.stderr);
}

/// `-f FILE` is the positional PATH, as in `kubectl apply -f`.
#[test]
fn dash_f_is_an_alias_of_the_paths() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/web-deployment.yaml"
    );
    let positional = podsec(&["check", file, "-o", "json"], b"");
    let dash_f = podsec(&["check", "-f", file, "-o", "json"], b"");
    assert_eq!(dash_f.code, positional.code);
    assert_eq!(dash_f.stdout, positional.stdout);
    let fix = podsec(&["fix", "--filename", file], b"");
    assert_eq!(fix.stdout, podsec(&["fix", file], b"").stdout);
    assert!(
        fix.stdout.contains("+        securityContext:"),
        "{}",
        fix.stdout
    );
    let none = podsec(&["check"], b"");
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("--filename") || none.stderr.contains("PATH"),
        "{}",
        none.stderr
    );
}

#[test]
fn psp_list_and_get_print_objects_and_can_i_takes_kubectl_resource_forms() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/psp");
    let (deny, allow) = (
        format!("{fixtures}/seed000/deny-all.yaml"),
        format!("{fixtures}/seed000-allow/allow-all.yaml"),
    );
    let json = podsec(&["psp", "list", &deny, &allow, "-o", "json"], b"");
    assert_eq!(json.code, 0, "{}", json.stderr);
    let list = json.json();
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    assert!(items.len() >= 2);
    assert!(items
        .iter()
        .all(|p| p["kind"] == "PodSecurityPolicy" && p["apiVersion"] == "policy/v1beta1"));
    let name = items[0]["metadata"]["name"].as_str().unwrap().to_string();
    let yaml = podsec(&["psp", "get", &name, &deny, &allow, "-o", "yaml"], b"");
    assert_eq!(yaml.code, 0, "{}", yaml.stderr);
    let one: serde_json::Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    assert_eq!(one, items[0]);
    let names = podsec(&["psp", "list", &deny, &allow, "-o", "name"], b"");
    assert!(
        names
            .stdout
            .lines()
            .all(|l| l.starts_with("podsecuritypolicy.policy/")),
        "{}",
        names.stdout
    );
    let missing = podsec(&["psp", "get", "nope", &deny], b"");
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr.trim(),
        "Error from server (NotFound): podsecuritypolicies.policy \"nope\" not found"
    );

    let dir = tempfile::tempdir().unwrap();
    for f in ["seed000/deny-all.yaml", "use-deny-all.yaml"] {
        std::fs::copy(
            format!("{fixtures}/{f}"),
            dir.path().join(f.replace('/', "-")),
        )
        .unwrap();
    }
    let state = dir.path().to_str().unwrap();
    for resource in [
        "psp/deny-all",
        "podsecuritypolicy.policy/deny-all",
        "podsecuritypolicies/deny-all",
        "podsecuritypolicies.policy/deny-all",
    ] {
        let run = podsec(
            &[
                "can-i",
                "use",
                resource,
                "--as",
                "system:serviceaccount:default:app",
                "--state",
                state,
            ],
            b"",
        );
        assert_eq!(run.code, 0, "{resource}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.starts_with("yes"), "{resource}: {}", run.stdout);
    }
}

/// Scanning a repository: files with no Kubernetes object (Helm values, Chart.yaml,
/// package.json) are skipped and counted rather than failing the run; `--exclude` leaves out
/// paths; `--include-non-k8s-errors` brings back the errors.
#[test]
fn scanning_a_repository_skips_non_kubernetes_files_and_honours_exclude() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("charts/web/templates")).unwrap();
    std::fs::write(
        root.join("charts/web/values.yaml"),
        "replicaCount: 1\nimage: {repository: nginx}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("charts/web/Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        root.join("package.json"),
        "{\"name\": \"site\", \"version\": \"1.0.0\"}\n",
    )
    .unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/web-deployment.yaml"
        ),
        root.join("charts/web/templates/deployment.yaml"),
    )
    .unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/web-deployment.yaml"
        ),
        root.join("web-deployment.yaml"),
    )
    .unwrap();
    let path = root.to_str().unwrap();

    let run = podsec(&["check", path, "-o", "json"], b"");
    assert_eq!(run.code, 1, "denied, not an input error: {}", run.stdout);
    let report = run.json();
    assert_eq!(report["summary"]["non_kubernetes_files"], 3);
    assert_eq!(report["summary"]["errors"], 0);
    assert_eq!(report["summary"]["objects"], 2);
    let table = podsec(&["check", path], b"");
    assert!(table.stdout.ends_with("2 objects: 0 allowed, 2 denied; 0 skipped; 0 errors; 3 files skipped (no Kubernetes object in them)\n"), "{}", table.stdout);

    let strict = podsec(
        &["check", path, "-o", "json", "--include-non-k8s-errors"],
        b"",
    );
    assert_eq!(strict.code, 2);
    assert_eq!(strict.json()["summary"]["errors"], 3);

    let excluded = podsec(
        &["check", path, "-o", "json", "--exclude", "charts/**"],
        b"",
    );
    let report = excluded.json();
    assert_eq!(report["summary"]["objects"], 1);
    assert_eq!(
        report["summary"]["non_kubernetes_files"], 1,
        "only package.json is left"
    );
    let by_name = podsec(
        &[
            "check",
            path,
            "-o",
            "json",
            "--exclude",
            "*deployment.yaml",
            "--exclude",
            "package.json",
            "--allow-empty",
        ],
        b"",
    );
    assert_eq!(
        by_name.json()["summary"]["objects"],
        0,
        "{}",
        by_name.stdout
    );
}

/// The table fits the terminal (`COLUMNS` here): at 80 and 200 columns no line is longer
/// than the width allows the detail column; `-o wide` has everything and the fix hint; the
/// summary names the skipped kinds.
#[test]
fn the_table_fits_80_and_200_columns_and_wide_has_the_hint() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/node-exporter.yaml"
    );
    let full = podsec(&["check", file], b"").stdout;
    let longest = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(
        longest(&full) > 200,
        "the unfitted table is wide: {}",
        longest(&full)
    );
    for width in [80usize, 200] {
        let run = util::podsec_env(&["check", file], &[("COLUMNS", &width.to_string())]);
        assert_eq!(run.code, 1);
        let header = run.stdout.lines().next().unwrap();
        let detail_at = header.find("DETAIL").unwrap();
        for line in run.stdout.lines().filter(|l| l.starts_with("deny")) {
            let detail: String = line.chars().skip(detail_at).collect();
            assert!(
                line.chars().count() <= width.max(detail_at + 20),
                "{width} columns: {line}"
            );
            assert!(
                detail.chars().count() <= width.saturating_sub(detail_at).max(20),
                "{detail}"
            );
        }
        assert!(
            run.stdout.contains('…'),
            "long details are elided at {width}"
        );
    }
    let wide = podsec(&["check", file, "-o", "wide"], b"");
    assert!(wide.stdout.lines().next().unwrap().ends_with("HINT"));
    assert!(!wide.stdout.contains('…'));
    assert!(wide.stdout.contains("hostNetwork"), "{}", wide.stdout);
    let ns = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/namespaces.yaml"
    );
    let summary = podsec(&["check", ns, file], b"").stdout;
    assert!(
        summary
            .lines()
            .last()
            .unwrap()
            .contains("skipped (Namespace ×"),
        "{summary}"
    );
}

#[test]
fn audit_namespace_flags_filter_like_kubectl() {
    let snapshot = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../audit/tests/fixtures/cluster-snapshot.json"
    );
    let names = |args: &[&str]| -> Vec<String> {
        let run = podsec(&[&["audit", snapshot, "-o", "json"], args].concat(), b"");
        assert_eq!(run.code, 0, "{}", run.stderr);
        let json = run.json();
        let listed: Vec<String> = json["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(json["summary"]["namespaces"], listed.len(), "{json}");
        listed
    };
    let all = names(&[]);
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(names(&["-A"]), all);
    assert_eq!(names(&["-n", "shop"]), ["shop"]);
    assert_eq!(
        names(&["--namespace", "shop", "-n", "batch"]),
        ["batch", "shop"]
    );
    // A namespace's result does not change with the filter.
    let shop = |args: &[&str]| {
        let run = podsec(&[&["audit", snapshot, "-o", "json"], args].concat(), b"");
        let json = run.json();
        json["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == "shop")
            .cloned()
            .unwrap()
    };
    assert_eq!(shop(&[]), shop(&["-n", "shop"]));
    assert_eq!(names(&["-n", "nowhere"]), Vec::<String>::new());
    let both = podsec(&["audit", snapshot, "-A", "-n", "shop"], b"");
    assert_eq!(both.code, 2);
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
}

#[test]
fn check_output_name_lists_the_failing_objects_as_kubectl_names_them() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let run = podsec(&["check", examples, "-o", "name"], b"");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "cronjob.batch/nightly-report",
            "deployment.apps/web",
            "pod/debug-shell"
        ]
    );
    let baseline = podsec(
        &["check", examples, "-o", "name", "--level", "baseline"],
        b"",
    );
    assert!(
        !baseline.stdout.contains("deployment.apps/web"),
        "{}",
        baseline.stdout
    );
}

#[test]
fn errors_name_their_object_when_it_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: nginx\n        securityContext:\n          privileged: \"yes\"\n---\nkind: [\n",
    )
    .unwrap();
    let path = file.to_string_lossy().into_owned();
    // The table's errors are on stderr, one line each, led by the object when it is known.
    let run = podsec(&["check", &path], b"");
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with(&format!("podsec: {path}:13: Deployment api: spec.template.spec.containers[0].securityContext.privileged")),
        "{}",
        run.stderr
    );
    assert_eq!(
        lines[1],
        format!("podsec: {path}:15: unclosed bracket '[' (column 7)")
    );
    // JSON carries the object apart, for tools.
    let json = podsec(&["check", &path, "-o", "json"], b"").json();
    assert_eq!(json["errors"][0]["object"], "Deployment api", "{json}");
    assert!(json["errors"][1].get("object").is_none(), "{json}");
}

#[test]
fn check_shows_progress_on_a_terminal_and_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..150 {
        std::fs::write(
            dir.path().join(format!("pod-{i}.yaml")),
            format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\nspec:\n  containers:\n  - name: c\n    image: nginx\n"),
        )
        .unwrap();
    }
    // `script` gives podsec a terminal for stdout and stderr, as a person running it has.
    let command = format!(
        "{} check {} --level baseline",
        env!("CARGO_BIN_EXE_podsec"),
        dir.path().display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("COLUMNS", "120")
        .output()
        .expect("script (util-linux) runs a command on a terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("checking: 0/150 files (0%)"), "{text}");
    assert!(text.contains("\r\x1b[2K"), "the line is cleared: {text:?}");
    assert!(
        text.contains("150 objects: 150 allowed, 0 denied"),
        "{text}"
    );
    // Not on a pipe.
    let piped = podsec(
        &[
            "check",
            &dir.path().to_string_lossy(),
            "--level",
            "baseline",
        ],
        b"",
    );
    assert!(!piped.stderr.contains("checking:"), "{}", piped.stderr);
}
