//! Audit and migration over a realistic cluster snapshot (tests/fixtures/cluster-snapshot.json):
//! unlabelled `default`, `dmz` and `kube-system`; `shop` enforcing restricted pinned at v1.18;
//! `batch` enforcing baseline with a pod that predates the label; the seed PSPs `deny-all` and
//! `allow-all` with seed 000's `dmz` RoleBinding; EKS's `eks.privileged` and its binding for
//! `system:authenticated` (seed 002); a PSP the plugin cannot use; bindings to missing roles; and
//! an object of a kind podsec does not know; a StatefulSet scaled to zero in `shop`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use std::fs::File;
use std::path::PathBuf;

use podsec_audit::audit::{LevelCounts, NamespaceReport};
use podsec_audit::migrate::NamespacePlan;
use podsec_audit::{
    read_json, AuditOptions, AuditReport, Auditor, MigrationReport, Migrator, WhatIf,
};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster-snapshot.json")
}

fn audit_bytes(bytes: &[u8], options: AuditOptions) -> AuditReport {
    let mut auditor = Auditor::new(options);
    read_json(bytes, &mut |o| auditor.observe(o));
    auditor.finish()
}

fn audit(options: AuditOptions) -> AuditReport {
    audit_bytes(&std::fs::read(fixture()).unwrap(), options)
}

fn migrate() -> MigrationReport {
    let mut migrator = Migrator::new(AuditOptions::default());
    read_json(File::open(fixture()).unwrap(), &mut |o| migrator.observe(o));
    migrator.finish()
}

fn namespace<'r>(report: &'r AuditReport, name: &str) -> &'r NamespaceReport {
    report
        .namespaces
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("namespace {name} in the report"))
}

fn plan<'r>(report: &'r MigrationReport, name: &str) -> &'r NamespacePlan {
    report
        .namespaces
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("namespace {name} in the plan"))
}

#[test]
fn the_summary_counts_namespaces_and_pods_per_level_and_names_the_gaps() {
    let r = audit(AuditOptions::default());
    let s = &r.summary;
    assert_eq!(s.namespaces, 5);
    assert_eq!(
        s.namespaces_by_level,
        LevelCounts {
            privileged: 3,
            baseline: 2,
            restricted: 0
        }
    );
    assert_eq!(s.unlabelled_namespaces, ["default", "dmz", "kube-system"]);
    assert_eq!(s.pods, 6);
    assert_eq!(
        s.pods_by_level,
        LevelCounts {
            privileged: 3,
            baseline: 3,
            restricted: 0
        }
    );
    assert_eq!(s.skipped_kinds.get("example.com/v1 Widget"), Some(&1));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(!r.incomplete);
}

#[test]
fn pods_are_grouped_by_their_top_level_workload() {
    let r = audit(AuditOptions::default());
    let default = namespace(&r, "default");
    assert_eq!(default.workloads.len(), 1);
    let web = &default.workloads[0];
    assert_eq!(
        (web.kind.as_str(), web.name.as_str(), web.pods),
        ("Deployment", "web", 2)
    );
    assert_eq!(web.highest_level, "baseline");
    assert_eq!(web.checks, ["seccompProfile_restricted"]);

    let batch = namespace(&r, "batch");
    let report = &batch.workloads[0];
    assert_eq!(
        (report.kind.as_str(), report.name.as_str()),
        ("CronJob", "report"),
        "Pod → Job → CronJob"
    );
    // NET_ADMIN fails baseline's check, which restricted replaces with its own: both show.
    assert!(report.checks.contains(&"capabilities_baseline".to_string()));
    assert!(report
        .checks
        .contains(&"capabilities_restricted".to_string()));

    let ks = namespace(&r, "kube-system");
    assert_eq!(ks.workloads[0].kind, "DaemonSet");
    let dmz = namespace(&r, "dmz");
    assert_eq!(
        (
            dmz.workloads[0].kind.as_str(),
            dmz.workloads[0].name.as_str()
        ),
        ("Pod", "debug"),
        "a bare pod is its own workload"
    );

    // Controllers that have pods are not listed twice; one scaled to zero is listed with its
    // template's verdict, without changing what the namespace's pods pass.
    let shop = namespace(&r, "shop");
    let listed: Vec<(&str, &str, u64, &str)> = shop
        .workloads
        .iter()
        .map(|w| {
            (
                w.kind.as_str(),
                w.name.as_str(),
                w.pods,
                w.highest_level.as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("Deployment", "api", 1, "baseline"),
            ("StatefulSet", "cache", 0, "baseline")
        ]
    );
    assert_eq!(shop.pods, 1);
    assert_eq!(shop.highest_level, "baseline");
    // Its template fails even the pinned restricted:v1.18 enforced now.
    assert_eq!(shop.workloads[1].enforce_rejects_template, Some(true));
    assert_eq!(shop.workloads[0].enforce_rejects_template, None);
}

#[test]
fn without_replicasets_and_jobs_in_the_snapshot_pods_still_reach_their_deployment_or_cronjob() {
    let mut snapshot: serde_json::Value =
        serde_json::from_reader(File::open(fixture()).unwrap()).unwrap();
    let items = snapshot["items"].as_array_mut().unwrap();
    let before = items.len();
    items.retain(|o| o["kind"] != "ReplicaSet" && o["kind"] != "Job");
    assert_eq!(items.len(), before - 3);
    let r = audit_bytes(snapshot.to_string().as_bytes(), AuditOptions::default());
    let listed = |ns: &str| -> Vec<(String, String, u64)> {
        namespace(&r, ns)
            .workloads
            .iter()
            .map(|w| (w.kind.clone(), w.name.clone(), w.pods))
            .collect()
    };
    assert_eq!(listed("default"), [("Deployment".into(), "web".into(), 2)]);
    assert_eq!(listed("batch"), [("CronJob".into(), "report".into(), 1)]);

    let mut migrator = Migrator::new(AuditOptions::default());
    read_json(snapshot.to_string().as_bytes(), &mut |o| {
        migrator.observe(o)
    });
    let m = migrator.finish();
    let deny_all = m.policies.iter().find(|p| p.name == "deny-all").unwrap();
    assert_eq!(deny_all.relying_workloads.len(), 1);
    assert_eq!(
        deny_all.relying_workloads[0].workload,
        "Deployment default/web"
    );
    let must_set = &deny_all.relying_workloads[0].must_set;
    assert!(
        must_set
            .iter()
            .any(|op| op.starts_with("add /spec/template/spec/")),
        "{must_set:?}"
    );
}

#[test]
fn violations_are_grouped_by_check_with_upstream_details() {
    let r = audit(AuditOptions::default());
    let dmz = namespace(&r, "dmz");
    let checks: Vec<&str> = dmz
        .violations_by_check
        .iter()
        .map(|c| c.check.as_str())
        .collect();
    for expected in ["hostNamespaces", "hostPorts", "privileged", "runAsNonRoot"] {
        assert!(checks.contains(&expected), "{expected} in {checks:?}");
    }
    let host_ports = dmz
        .violations_by_check
        .iter()
        .find(|c| c.check == "hostPorts")
        .unwrap();
    assert_eq!(host_ports.detail, "container \"shell\" uses hostPort 8080");
    assert_eq!(host_ports.level, "baseline");
    assert_eq!(host_ports.examples, ["debug"]);
    let default = namespace(&r, "default");
    assert_eq!(default.violations_by_check[0].pods, 2);
}

#[test]
fn a_pinned_namespace_is_judged_at_latest_and_at_its_version() {
    let r = audit(AuditOptions::default());
    let shop = namespace(&r, "shop");
    assert_eq!(shop.enforce, "restricted:v1.18");
    assert_eq!(
        shop.highest_level, "baseline",
        "seccomp is required since v1.19"
    );
    let pinned = shop.pinned.as_ref().expect("pinned level");
    assert_eq!(
        (pinned.version.as_str(), pinned.highest_level.as_str()),
        ("v1.18", "restricted")
    );
    assert_eq!(pinned.pods, 1);
    assert!(namespace(&r, "default").pinned.is_none());
}

#[test]
fn pods_listed_before_their_namespace_are_counted_out_of_the_pinned_result() {
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"early","namespace":"late"},
        "spec":{"containers":[{"name":"c","image":"nginx"}]}}"#;
    let ns = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"late","labels":{
        "pod-security.kubernetes.io/enforce":"restricted",
        "pod-security.kubernetes.io/enforce-version":"v1.20"}}}"#;
    let r = audit_bytes(
        format!("{pod}\n{ns}\n{}", pod.replace("early", "after")).as_bytes(),
        AuditOptions::default(),
    );
    let late = namespace(&r, "late");
    assert_eq!(late.pods, 2);
    let pinned = late.pinned.as_ref().expect("pinned level");
    assert_eq!(pinned.version, "v1.20");
    assert_eq!(pinned.pods, 1, "only the pod after the Namespace object");
    assert_eq!(pinned.highest_level, "baseline");
}

#[test]
fn what_if_gives_upstreams_relabel_warnings_for_every_namespace() {
    let options = AuditOptions {
        what_if: vec![
            WhatIf::parse("enforce=restricted").unwrap(),
            WhatIf::parse("enforce=privileged,namespace=kube-system").unwrap(),
        ],
        ..AuditOptions::default()
    };
    let r = audit(options);
    let default = namespace(&r, "default").what_if.as_ref().unwrap();
    assert_eq!(default.policy, "restricted:latest");
    assert_eq!(default.rejected_pods, 2);
    assert_eq!(
        default.warnings,
        [
            "existing pods in namespace \"default\" violate the new PodSecurity enforce level \"restricted:latest\"",
            "web-7d4b9c8f5-abcde (and 1 other pod): seccompProfile",
        ]
    );
    let ks = namespace(&r, "kube-system").what_if.as_ref().unwrap();
    assert_eq!(
        ks.policy, "privileged:latest",
        "the per-namespace what-if wins"
    );
    assert_eq!(ks.rejected_pods, 0);
    assert!(ks.warnings.is_empty());
}

#[test]
fn what_if_rejects_bad_specs_with_a_hint() {
    assert!(WhatIf::parse("enforce=strict")
        .unwrap_err()
        .contains("enforce=strict"));
    assert!(WhatIf::parse("version=v1.30")
        .unwrap_err()
        .contains("enforce=LEVEL is required"));
    assert!(WhatIf::parse("enforce=baseline,level=x")
        .unwrap_err()
        .contains("unknown key"));
    let w = WhatIf::parse("enforce=baseline,version=v1.30,namespace=shop").unwrap();
    assert_eq!(w.enforce.to_string(), "baseline:v1.30");
    assert_eq!(w.namespace.as_deref(), Some("shop"));
}

#[test]
fn migrate_maps_each_psp_to_the_strictest_level_admitting_all_it_admits() {
    let r = migrate();
    let names: Vec<&str> = r.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["allow-all", "broken", "deny-all", "eks.privileged"]);
    let deny_all = &r.policies[2];
    // deny-all (seed 000) leaves seLinux at RunAsAny: pods could set any SELinux user,
    // which baseline forbids, so only privileged admits everything it admits.
    assert_eq!(deny_all.level, "privileged");
    assert!(deny_all
        .not_baseline_because
        .iter()
        .any(|w| w.contains("seLinux rule RunAsAny")));
    assert!(deny_all.mutating);
    assert!(deny_all
        .defaults
        .iter()
        .any(|d| d.contains("requiredDropCapabilities drops [\"ALL\"]")));
    let allow_all = &r.policies[0];
    assert!(!allow_all.mutating);
    assert!(allow_all
        .not_baseline_because
        .iter()
        .any(|w| w.contains("privileged: true")));
    assert_eq!(r.policies[3].pods_admitted, 3);
}

#[test]
fn migrate_lists_workloads_relying_on_mutating_defaults_and_what_they_must_set() {
    let r = migrate();
    let deny_all = r.policies.iter().find(|p| p.name == "deny-all").unwrap();
    assert_eq!(deny_all.pods_admitted, 2);
    assert_eq!(deny_all.relying_workloads.len(), 1);
    let web = &deny_all.relying_workloads[0];
    assert_eq!(web.workload, "Deployment default/web");
    assert_eq!(web.pods, 2);
    assert!(
        web.must_set.iter().any(|op| op.starts_with(
            "add /spec/template/spec/containers/0/securityContext {\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":[\"ALL\"]},\"runAsNonRoot\":true}"
        )),
        "{:?}",
        web.must_set
    );
    assert!(r.cluster_steps[0].contains("mutating policies (broken, deny-all)"));
}

#[test]
fn migrate_resolves_who_may_use_which_policy_in_each_namespace() {
    let r = migrate();
    let usable = |ns: &str| -> Vec<String> {
        plan(&r, ns)
            .usable_policies
            .iter()
            .map(|u| u.policy.clone())
            .collect()
    };
    assert_eq!(usable("dmz"), ["allow-all", "eks.privileged"]);
    assert_eq!(usable("shop"), ["eks.privileged"]);
    let dmz = plan(&r, "dmz");
    assert!(dmz.usable_policies[0].granted_to[0]
        .starts_with("Group system:authenticated via RoleBinding/dmz/allow-all-rolebinding"));
    let eks = &dmz.usable_policies[1];
    assert!(eks.granted_to[0].contains("ClusterRoleBinding/eks:podsecuritypolicy:authenticated"));
}

#[test]
fn migrate_recommends_levels_and_the_rollout_commands() {
    let r = migrate();
    let default = plan(&r, "default");
    assert_eq!(default.recommended_enforce, "baseline:latest");
    assert_eq!(default.recommended_warn_audit, "restricted");
    assert!(default.fix_before_enforce.is_empty());
    assert_eq!(
        default.fix_before_stricter,
        ["Deployment web (2 pods: seccompProfile_restricted)"]
    );
    assert_eq!(
        default.commands[0],
        "kubectl label --overwrite ns default pod-security.kubernetes.io/warn=restricted pod-security.kubernetes.io/warn-version=latest pod-security.kubernetes.io/audit=restricted pod-security.kubernetes.io/audit-version=latest"
    );
    assert!(default.commands[1].starts_with("kubectl label --dry-run=server"));
    assert_eq!(
        default.commands[2],
        "kubectl label --overwrite ns default pod-security.kubernetes.io/enforce=baseline pod-security.kubernetes.io/enforce-version=latest"
    );
    assert!(default.commands[3].contains("--group=system:serviceaccounts:default"));

    // A namespace labelled stricter than its pods keeps its label; the pods are listed to fix.
    let batch = plan(&r, "batch");
    assert_eq!(batch.recommended_enforce, "baseline:latest");
    assert_eq!(
        batch.fix_before_enforce,
        ["CronJob report (1 pod: capabilities_baseline)"]
    );
    assert!(batch.notes[0].contains("already enforces baseline:latest"));

    // A pinned version its pods pass is kept, not downgraded.
    let shop = plan(&r, "shop");
    assert!(
        shop.notes.iter().any(|n| n.starts_with(
            "StatefulSet cache has no pods and its template fails the current enforce restricted:v1.18"
        )),
        "{:?}",
        shop.notes
    );
    assert_eq!(shop.recommended_enforce, "restricted:v1.18");
    assert!(shop.fix_before_enforce.is_empty());
    // The StatefulSet scaled to zero is judged by its template.
    assert_eq!(
        shop.fix_before_stricter,
        [
            "Deployment api (1 pod: seccompProfile_restricted)",
            "StatefulSet cache (no pods, its template: allowPrivilegeEscalation, capabilities_restricted, runAsNonRoot, seccompProfile_restricted)"
        ]
    );

    let dmz = plan(&r, "dmz");
    assert_eq!(dmz.recommended_enforce, "privileged:latest");
    assert_eq!(dmz.recommended_warn_audit, "baseline");
    assert_eq!(
        dmz.fix_before_stricter,
        ["Pod debug (1 pod: hostNamespaces, hostPorts, privileged)"]
    );
}

#[test]
fn bad_rbac_and_unusable_policies_are_reported_and_the_plan_still_produced() {
    let r = migrate();
    assert_eq!(
        r.rbac_problems,
        [
            "RoleBinding/default/default-deny-all: refers to ClusterRole/use-deny-all, which does not exist; it grants nothing",
            "RoleBinding/shop/dangling: refers to Role/shop/psp-user, which does not exist; it grants nothing",
        ]
    );
    let broken = r.policies.iter().find(|p| p.name == "broken").unwrap();
    assert_eq!(
        broken.unusable.as_deref(),
        Some("error creating provider for PSP broken: MustRunAs requires at least one range")
    );
    // A finding of the plan, not an input error: the snapshot was read in full.
    assert_eq!(
        r.policies.iter().filter(|p| p.unusable.is_some()).count(),
        1
    );
    assert!(r.audit.errors.is_empty(), "{:?}", r.audit.errors);
    assert_eq!(r.namespaces.len(), 5);
}

#[test]
fn a_truncated_snapshot_reports_where_it_broke_and_audits_what_came_before() {
    let full = std::fs::read(fixture()).unwrap();
    let text = String::from_utf8(full).unwrap();
    // Cut inside the seventh item (the first pod of dmz).
    let cut = text.find("\"name\": \"debug\"").expect("dmz's debug pod");
    let r = audit_bytes(&text.as_bytes()[..cut], AuditOptions::default());
    assert!(r.incomplete);
    assert_eq!(r.errors.len(), 1);
    assert!(
        r.errors[0].starts_with("snapshot: EOF while parsing"),
        "{}",
        r.errors[0]
    );
    assert_eq!(r.summary.pods, 2, "the two pods before the cut");
    assert_eq!(namespace(&r, "default").workloads[0].pods, 2);
}

#[test]
fn objects_that_do_not_decode_are_named_and_the_rest_is_audited() {
    let snapshot = br#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "a"},
         "spec": {"containers": {"name": "c"}}},
        {"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": "typo"},
         "spec": {"privileged": "yes"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "good", "namespace": "a"},
         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    ]}"#;
    let r = audit_bytes(snapshot, AuditOptions::default());
    assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
    assert!(r.errors[0].starts_with("Pod a/bad: "), "{}", r.errors[0]);
    assert!(r.errors[0].contains("spec.containers"), "{}", r.errors[0]);
    assert!(
        r.errors[1].starts_with("PodSecurityPolicy typo: "),
        "{}",
        r.errors[1]
    );
    assert!(!r.incomplete);
    assert_eq!(r.summary.pods, 1, "only the good pod is counted");
    assert_eq!(namespace(&r, "a").highest_level, "baseline");
}

/// The same snapshot as `kubectl … -o yaml` prints it gives the same audit and migration,
/// object for object (serde's error positions differ between the two texts and are left out).
#[test]
fn the_yaml_snapshot_gives_the_same_results_as_the_json_one() {
    let yaml = fixture().with_extension("yaml");
    let options = || AuditOptions {
        what_if: vec![WhatIf::parse("enforce=restricted").unwrap()],
        ..AuditOptions::default()
    };
    let mut from_yaml = Auditor::new(options());
    podsec_audit::read_yaml(
        std::io::BufReader::new(File::open(&yaml).unwrap()),
        &mut |o| from_yaml.observe(o),
    );
    let mut migrator = Migrator::new(AuditOptions::default());
    podsec_audit::read_yaml(
        std::io::BufReader::new(File::open(&yaml).unwrap()),
        &mut |o| migrator.observe(o),
    );
    let without_positions = |v: serde_json::Value| {
        let text = v.to_string();
        let re_free: String = text
            .split(" at line ")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_string()
                } else {
                    // drop "N column M" after each " at line "
                    part.split_once(" column ")
                        .map(|(_, rest)| rest.trim_start_matches(|c: char| c.is_ascii_digit()))
                        .unwrap_or(part)
                        .to_string()
                }
            })
            .collect();
        re_free
    };
    let json_audit = serde_json::to_value(audit(options())).unwrap();
    let yaml_audit = serde_json::to_value(from_yaml.finish()).unwrap();
    assert!(json_audit["namespaces"].as_array().unwrap().len() >= 5);
    assert_eq!(without_positions(yaml_audit), without_positions(json_audit));
    assert_eq!(
        without_positions(serde_json::to_value(migrator.finish()).unwrap()),
        without_positions(serde_json::to_value(migrate()).unwrap())
    );
}

/// The four checks the `cache` StatefulSet's template (container `redis`, no securityContext)
/// fails at restricted.
const CACHE_CHECKS: [&str; 4] = [
    "allowPrivilegeEscalation",
    "capabilities_restricted",
    "runAsNonRoot",
    "seccompProfile_restricted",
];

/// A detail names `own` (a container) and none of `others`.
fn assert_names_only(detail: &str, own: &str, others: &[&str], context: &str) {
    assert!(!detail.trim().is_empty(), "{context}: empty detail");
    assert!(
        detail.contains(&format!("\"{own}\"")),
        "{context}: {detail:?} does not name container {own:?}"
    );
    for other in others {
        assert!(
            !detail.contains(&format!("\"{other}\"")),
            "{context}: {detail:?} names another workload's container {other:?}"
        );
    }
}

/// Each report's details come from the workload itself: the `cache` StatefulSet in `shop`,
/// scaled to zero and judged by its template, is described by its own container `redis` — not
/// left empty for the checks no pod in `shop` fails, and not described by the `api`
/// Deployment's pod, the namespace's first pod failing seccompProfile_restricted.
#[test]
fn every_report_describes_a_workload_by_its_own_containers() {
    let r = audit(AuditOptions::default());
    let shop = namespace(&r, "shop");
    let cache = shop
        .workloads
        .iter()
        .find(|w| w.kind == "StatefulSet" && w.name == "cache")
        .expect("StatefulSet cache in shop");
    assert_eq!(cache.checks, CACHE_CHECKS);
    assert_eq!(
        cache.details.keys().map(String::as_str).collect::<Vec<_>>(),
        CACHE_CHECKS,
        "a detail for every failing check"
    );
    for check in CACHE_CHECKS {
        assert_names_only(&cache.details[check], "redis", &["api"], check);
    }
    // Its neighbour keeps its own detail for the check both fail.
    let api = &shop.workloads[0];
    assert_eq!(
        (api.kind.as_str(), api.name.as_str()),
        ("Deployment", "api")
    );
    assert_names_only(
        &api.details["seccompProfile_restricted"],
        "api",
        &["redis"],
        "Deployment api",
    );

    // SARIF: "StatefulSet shop/cache (no pods, its template) fails CHECK: DETAIL".
    let sarif = podsec_audit::reports::audit_sarif(&r);
    let results: Vec<&serde_json::Value> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| {
            x["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                == "shop/StatefulSet/cache"
        })
        .collect();
    assert_eq!(results.len(), CACHE_CHECKS.len(), "{results:#?}");
    for x in results {
        let check = x["ruleId"].as_str().unwrap();
        let text = x["message"]["text"].as_str().unwrap();
        let (_, detail) = text
            .split_once(&format!(" fails {check}: "))
            .unwrap_or_else(|| panic!("SARIF message {text:?}"));
        assert_names_only(detail, "redis", &["api"], &format!("SARIF {check}"));
    }

    // JUnit: the case "StatefulSet cache passes restricted", one failure "CHECK: DETAIL" each.
    let junit = podsec_audit::reports::audit_junit(&r);
    let start = junit
        .find("<testcase classname=\"shop\" name=\"StatefulSet cache passes restricted\">")
        .unwrap_or_else(|| panic!("the cache case in:\n{junit}"));
    let case = &junit[start..];
    let case = &case[..case.find("</testcase>").expect("the case ends")];
    let messages: Vec<String> = case
        .lines()
        .filter_map(|l| l.split_once("<failure message=\""))
        .map(|(_, rest)| {
            let (message, _) = rest.split_once("\" type=").expect("failure message");
            message.replace("&quot;", "\"").replace("&amp;", "&")
        })
        .collect();
    assert_eq!(messages.len(), CACHE_CHECKS.len(), "{case}");
    for (message, check) in messages.iter().zip(CACHE_CHECKS) {
        let detail = message
            .strip_prefix(&format!("{check}: "))
            .unwrap_or_else(|| panic!("JUnit failure {message:?} for {check}"));
        assert_names_only(detail, "redis", &["api"], &format!("JUnit {check}"));
    }

    // PolicyReport: shop's report, the failing results for StatefulSet cache,
    // "StatefulSet cache (no pods, its template): DETAIL".
    let docs: Vec<serde_json::Value> = podsec_audit::reports::policy_reports(&r)
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect();
    let shop_report = docs
        .iter()
        .find(|d| d["kind"] == "PolicyReport" && d["metadata"]["namespace"] == "shop")
        .expect("shop's PolicyReport");
    let failed: Vec<&serde_json::Value> = shop_report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| {
            x["resources"][0]["kind"] == "StatefulSet"
                && x["resources"][0]["name"] == "cache"
                && x["result"] == "fail"
        })
        .collect();
    assert_eq!(failed.len(), CACHE_CHECKS.len(), "{failed:#?}");
    for x in failed {
        let check = x["rule"].as_str().unwrap();
        let message = x["message"].as_str().unwrap();
        let (_, detail) = message
            .split_once("(no pods, its template): ")
            .unwrap_or_else(|| panic!("PolicyReport message {message:?}"));
        assert_names_only(detail, "redis", &["api"], &format!("PolicyReport {check}"));
    }
}

/// Two workloads in one namespace failing the same check, each with pods: each finding is
/// described by its own pod, not by whichever pod the namespace saw first.
#[test]
fn workloads_sharing_a_failing_check_keep_their_own_details() {
    let pod = |name: &str, container: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"n"}},
            "spec":{{"containers":[{{"name":"{container}","image":"nginx"}}]}}}}"#
        )
    };
    let r = audit_bytes(
        format!("{}\n{}", pod("first", "one"), pod("second", "two")).as_bytes(),
        AuditOptions::default(),
    );
    let n = namespace(&r, "n");
    assert_eq!(n.workloads.len(), 2);
    for (w, own, other) in [
        (&n.workloads[0], "one", "two"),
        (&n.workloads[1], "two", "one"),
    ] {
        assert!(!w.checks.is_empty());
        for check in &w.checks {
            assert_names_only(
                &w.details[check],
                own,
                &[other],
                &format!("{} {check}", w.name),
            );
        }
    }
    for f in podsec_audit::reports::audit_findings(&r) {
        let own = if f.name == "first" { "one" } else { "two" };
        let other = if own == "one" { "two" } else { "one" };
        let (_, detail) = f
            .message
            .split_once(&format!(" fails {}: ", f.rule))
            .unwrap();
        assert_names_only(detail, own, &[other], &f.message);
    }
}
