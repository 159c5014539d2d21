//! `podsec verify`: runs gator `Suite` files as `gator verify` does.

use std::path::{Path, PathBuf};
use std::time::Instant;

use podsec_cluster::files::list_dir;
use podsec_constraints::suite::{Case, Suite, Test};
use podsec_constraints::{EnforcementPoint, Inventory, Library, Review};
use serde::Serialize;
use serde_json::Value;

use crate::constraints::{read_documents, EngineChoice};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Suite files, or directories searched recursively for them (kind: Suite,
    /// apiVersion: test.gatekeeper.sh/v1alpha1; other files are ignored).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Output: go-test-style text (as gator prints) or JSON.
    #[arg(short = 'o', long, default_value = "text", value_enum)]
    pub output: VerifyOutput,
    /// Which engine runs templates that have both Rego and CEL (default: CEL, as Gatekeeper).
    #[arg(long, default_value = "auto", value_enum)]
    pub engine: EngineChoice,
    /// Only run tests whose name contains this text.
    #[arg(long)]
    pub run: Option<String>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyOutput {
    Text,
    Json,
}

#[derive(Serialize, Debug, Default)]
pub struct Results {
    pub suites: Vec<SuiteResult>,
    pub summary: Summary,
}

#[derive(Serialize, Debug, Default)]
pub struct Summary {
    pub suites: usize,
    pub tests: usize,
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

#[derive(Serialize, Debug)]
pub struct SuiteResult {
    pub file: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub tests: Vec<TestResult>,
    #[serde(skip)]
    seconds: f64,
}

#[derive(Serialize, Debug)]
pub struct TestResult {
    pub name: String,
    pub passed: bool,
    pub skipped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub cases: Vec<CaseResult>,
    #[serde(skip)]
    seconds: f64,
}

#[derive(Serialize, Debug)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    pub skipped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub assertions: Vec<AssertionResult>,
    #[serde(skip)]
    seconds: f64,
}

#[derive(Serialize, Debug)]
pub struct AssertionResult {
    pub passed: bool,
    pub violations: usize,
    pub messages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let results = verify(args)?;
    let text = match args.output {
        VerifyOutput::Json => format!("{}\n", serde_json::to_string_pretty(&results)?),
        VerifyOutput::Text => text(&results),
    };
    crate::write_stdout(&text)?;
    Ok(u8::from(
        results.summary.failed > 0 || results.suites.iter().any(|s| !s.passed),
    ))
}

pub fn verify(args: &Args) -> anyhow::Result<Results> {
    let mut suite_files = Vec::new();
    for arg in &args.paths {
        let path = PathBuf::from(arg);
        if path.is_dir() {
            let mut errors = Vec::new();
            suite_files.extend(list_dir(&path, &mut errors));
            if let Some(e) = errors.first() {
                anyhow::bail!("{}: {}", e.name, e.message);
            }
        } else if path.exists() {
            suite_files.push(path);
        } else {
            anyhow::bail!("{arg}: no such file or directory");
        }
    }
    let mut results = Results::default();
    for file in suite_files {
        let started = Instant::now();
        let documents = match read_documents(&file) {
            Ok(docs) => docs,
            // A directory of suites also holds templates and samples; only files that parse
            // and declare a Suite are suites.
            Err(_) if !args.paths.iter().any(|p| Path::new(p) == file) => continue,
            Err(e) => return Err(e),
        };
        let Some(document) = documents.iter().find(|d| Suite::is_suite(d)) else {
            continue;
        };
        let mut result = SuiteResult {
            file: file.display().to_string(),
            passed: true,
            error: None,
            tests: Vec::new(),
            seconds: 0.0,
        };
        match Suite::from_json(document) {
            Ok(suite) => {
                let dir = file.parent().unwrap_or(Path::new("."));
                for test in &suite.tests {
                    if args
                        .run
                        .as_ref()
                        .is_some_and(|r| !test.name.contains(r.as_str()))
                    {
                        continue;
                    }
                    let test_result = run_test(dir, test, args.engine);
                    result.passed &= test_result.passed;
                    results.summary.tests += 1;
                    for case in &test_result.cases {
                        results.summary.cases += 1;
                        if case.skipped {
                            results.summary.skipped += 1;
                        } else if case.passed {
                            results.summary.passed += 1;
                        } else {
                            results.summary.failed += 1;
                        }
                    }
                    if test_result.cases.is_empty() && !test_result.passed {
                        results.summary.failed += 1;
                    }
                    result.tests.push(test_result);
                }
            }
            Err(e) => {
                result.passed = false;
                result.error = Some(e);
                results.summary.failed += 1;
            }
        }
        result.seconds = started.elapsed().as_secs_f64();
        results.summary.suites += 1;
        results.suites.push(result);
    }
    if results.suites.is_empty() {
        anyhow::bail!(
            "no Suite files (kind: Suite, apiVersion: test.gatekeeper.sh/v1alpha1) under {}",
            args.paths.join(", ")
        );
    }
    Ok(results)
}

fn run_test(dir: &Path, test: &Test, engine: EngineChoice) -> TestResult {
    let started = Instant::now();
    let mut result = TestResult {
        name: test.name.clone(),
        passed: true,
        skipped: test.skip,
        error: None,
        cases: Vec::new(),
        seconds: 0.0,
    };
    if test.skip {
        return result;
    }
    let fail = |mut result: TestResult, error: String| {
        result.passed = false;
        result.error = Some(error);
        result.seconds = started.elapsed().as_secs_f64();
        result
    };
    let mut library = Library::new(engine.into());
    let template = match single_document(dir, &test.template, "template") {
        Ok(t) => t,
        Err(e) => return fail(result, e),
    };
    if let Err(e) = library.add_template(&template) {
        return fail(result, e.to_string());
    }
    let constraint = match single_document(dir, &test.constraint, "constraint") {
        Ok(c) => c,
        Err(e) => return fail(result, e),
    };
    let loaded = library.add_constraint(&constraint).map(|_| ());
    match (loaded, test.invalid) {
        (Ok(()), false) => {}
        (Err(_), true) => {
            result.seconds = started.elapsed().as_secs_f64();
            return result;
        }
        (Ok(()), true) => {
            return fail(
                result,
                "the constraint was expected to be invalid (invalid: true) but loaded".into(),
            )
        }
        (Err(e), false) => return fail(result, e.to_string()),
    }
    for case in &test.cases {
        let case_result = run_case(dir, case, &library);
        result.passed &= case_result.passed || case_result.skipped;
        result.cases.push(case_result);
    }
    result.seconds = started.elapsed().as_secs_f64();
    result
}

fn run_case(dir: &Path, case: &Case, library: &Library) -> CaseResult {
    let started = Instant::now();
    let mut result = CaseResult {
        name: case.name.clone(),
        passed: true,
        skipped: case.skip,
        error: None,
        assertions: Vec::new(),
        seconds: 0.0,
    };
    if case.skip {
        return result;
    }
    let outcome = (|| -> Result<Vec<AssertionResult>, String> {
        if case.assertions.is_empty() {
            return Err("assertions must be non-empty".into());
        }
        let object = single_document(dir, &case.object, "object")?;
        let mut inventory_objects = Vec::new();
        for path in &case.inventory {
            let full = dir.join(path);
            let docs = read_documents(&full).map_err(|e| format!("inventory: {e:#}"))?;
            inventory_objects.extend(docs);
        }
        let inventory = Inventory::from_objects(inventory_objects.iter());
        let review = if object.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
            Review::from_admission_review(&object)
                .ok_or_else(|| "the AdmissionReview has no request".to_string())?
        } else {
            let namespace = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str);
            let namespace_object = namespace.and_then(|ns| {
                inventory_objects
                    .iter()
                    .find(|o| {
                        o.get("kind").and_then(Value::as_str) == Some("Namespace")
                            && o.pointer("/metadata/name").and_then(Value::as_str) == Some(ns)
                    })
                    .cloned()
            });
            Review::from_object(object, namespace_object)
        };
        let violations = library.review(&review, &inventory, EnforcementPoint::Gator);
        Ok(case
            .assertions
            .iter()
            .map(|assertion| {
                let outcome = assertion.check(&violations);
                AssertionResult {
                    passed: outcome.failure.is_none(),
                    violations: outcome.counted,
                    messages: violations.iter().map(|v| v.message.clone()).collect(),
                    failure: outcome.failure,
                }
            })
            .collect())
    })();
    match outcome {
        Ok(assertions) => {
            result.passed = assertions.iter().all(|a| a.passed);
            result.assertions = assertions;
        }
        Err(e) => {
            result.passed = false;
            result.error = Some(e);
        }
    }
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// gator requires template, constraint and object files to hold exactly one document.
fn single_document(dir: &Path, relative: &str, what: &str) -> Result<Value, String> {
    if relative.is_empty() {
        return Err(format!("no {what} file given"));
    }
    let path = dir.join(relative);
    let mut docs = read_documents(&path).map_err(|e| format!("{what}: {e:#}"))?;
    if docs.len() != 1 {
        return Err(format!(
            "{what}: {} holds {} documents; it must hold exactly one",
            path.display(),
            docs.len()
        ));
    }
    docs.pop()
        .ok_or_else(|| format!("{what}: {} is empty", path.display()))
}

fn text(results: &Results) -> String {
    let mut out = String::new();
    for suite in &results.suites {
        for test in &suite.tests {
            out.push_str(&format!("=== RUN   {}\n", test.name));
            for case in &test.cases {
                out.push_str(&format!("    === RUN   {}\n", case.name));
                let status = if case.skipped {
                    "SKIP"
                } else if case.passed {
                    "PASS"
                } else {
                    "FAIL"
                };
                out.push_str(&format!(
                    "    --- {status}: {}\t({:.3}s)\n",
                    case.name, case.seconds
                ));
                if let Some(e) = &case.error {
                    out.push_str(&format!("        {e}\n"));
                }
                for (index, a) in case.assertions.iter().enumerate() {
                    if let Some(failure) = &a.failure {
                        out.push_str(&format!("        assertion {index}: {failure}"));
                        if !a.messages.is_empty() {
                            out.push_str(&format!("; messages: {:?}", a.messages));
                        }
                        out.push('\n');
                    }
                }
            }
            let status = if test.skipped {
                "SKIP"
            } else if test.passed {
                "PASS"
            } else {
                "FAIL"
            };
            out.push_str(&format!(
                "--- {status}: {}\t({:.3}s)\n",
                test.name, test.seconds
            ));
            if let Some(e) = &test.error {
                out.push_str(&format!("    {e}\n"));
            }
        }
        if let Some(e) = &suite.error {
            out.push_str(&format!("    {e}\n"));
        }
        let status = if suite.passed { "ok" } else { "FAIL" };
        out.push_str(&format!(
            "{status}\t{}\t{:.3}s\n",
            suite.file, suite.seconds
        ));
    }
    let s = &results.summary;
    let overall = if s.failed == 0 && results.suites.iter().all(|x| x.passed) {
        "PASS"
    } else {
        "FAIL"
    };
    out.push_str(&format!(
        "{overall}\n{} suites, {} tests, {} cases: {} passed, {} failed, {} skipped\n",
        s.suites, s.tests, s.cases, s.passed, s.failed, s.skipped
    ));
    out
}
