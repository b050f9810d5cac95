//! The `execute_code` tool (code/python, built into `code.wasm` by scripts/build-python.sh),
//! served by the real sandbox with the `code` and `examples` tool sets: programs print, return
//! values, use the bundled standard library and call other tools; their exceptions fail the
//! call with the report as the failure's detail; what the sandbox denies (files, network, time, memory) fails cleanly, and the
//! next call still works.

use std::time::Duration;

use crate::common::{Answer, Sandbox, Setup};
use serde_json::{Value, json};

/// Slack for process scheduling and HTTP on a loaded 2-core CI machine.
const MARGIN: Duration = Duration::from_millis(1500);

fn start() -> Sandbox {
    Sandbox::start(Setup {
        toolsets: &["examples", "code"],
        ..Setup::default()
    })
}

fn run(sb: &Sandbox, code: &str) -> Answer {
    sb.call("execute_code", json!({"language": "python", "code": code}))
}

/// The report of a program that ran: the result, or for a program that raised, the failure's
/// detail (a `tool_error` whose detail is the report with `success` false).
fn report(a: &Answer) -> &Value {
    let r = if a.body["ok"] == true {
        a.result()
    } else {
        assert_eq!(a.kind(), "tool_error", "{}", a.body);
        &a.body["error"]["detail"]
    };
    assert_eq!(r["success"], a.body["ok"], "{}", a.body);
    for field in [
        "success",
        "output",
        "truncated",
        "duration_ms",
        "fuel_used",
        "tool_calls",
    ] {
        assert!(!r[field].is_null(), "report without {field}: {r}");
    }
    r
}

fn assert_still_runs_programs(sb: &Sandbox) {
    let a = run(sb, "print('ok')\n6 * 7");
    let r = report(&a);
    assert_eq!(
        (&r["success"], &r["result"]),
        (&json!(true), &json!(42)),
        "{r}"
    );
    sb.assert_still_serving();
}

#[test]
fn print_goes_to_output() {
    let sb = start();
    let a = run(&sb, "print('hello, world')");
    let r = report(&a);
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["output"], "hello, world\n");
    assert_eq!((&r["result"], &r["error"]), (&Value::Null, &Value::Null));
    assert_eq!(
        (&r["truncated"], &r["tool_calls"]),
        (&json!(false), &json!(0))
    );
    assert!(r["fuel_used"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn the_last_expression_or_the_global_result_is_returned_as_json() {
    let sb = start();
    let a = run(&sb, "x = 6\nx * 7");
    assert_eq!(report(&a)["result"], 42);
    let a = run(
        &sb,
        "result = {'ids': (1, 2), 'tags': {'b', 'a'}}\nprint('done')",
    );
    assert_eq!(
        report(&a)["result"],
        json!({"ids": [1, 2], "tags": ["a", "b"]})
    );
    let a = run(&sb, "import datetime\ndatetime.date(2024, 5, 1)");
    assert_eq!(report(&a)["result"], "datetime.date(2024, 5, 1)");
}

#[test]
fn the_bundled_standard_library_works() {
    let sb = start();
    let program = r#"
import base64, collections, csv, dataclasses, datetime, decimal, fractions, functools, hashlib
import io, itertools, json, math, operator, random, re, statistics, string, textwrap, time, typing

rows = list(csv.DictReader(io.StringIO("service,ms\napi,120\napi,80\ndb,300\n")))
by_service = collections.defaultdict(list)
for row in rows:
    by_service[row["service"]].append(int(row["ms"]))

@dataclasses.dataclass
class Point:
    x: int
    y: int

{
    "mean_api": statistics.mean(by_service["api"]),
    "median": statistics.median(int(r["ms"]) for r in rows),
    "hyp": math.hypot(3, 4),
    "day": datetime.datetime.strptime("2024-03-01", "%Y-%m-%d").strftime("%A"),
    "plus_week": (datetime.date(2024, 2, 26) + datetime.timedelta(days=7)).isoformat(),
    "json": json.loads(json.dumps({"a": [1, 2]})),
    "errors": re.findall(r"ERROR (\w+)", "ERROR api\nINFO x\nERROR db"),
    "sha256": hashlib.sha256(b"abc").hexdigest()[:12],
    "md5": hashlib.md5(b"abc").hexdigest()[:8],
    "b64": base64.b64encode(b"hi there").decode(),
    "wrapped": textwrap.wrap("the quick brown fox", 10),
    "top": collections.Counter("mississippi").most_common(2),
    "pairs": list(itertools.combinations("abc", 2)),
    "product": functools.reduce(operator.mul, [1, 2, 3, 4]),
    "decimal": str(decimal.Decimal("0.1") + decimal.Decimal("0.2")),
    "fraction": str(fractions.Fraction(1, 3) + fractions.Fraction(1, 6)),
    "letters": string.ascii_lowercase[:5],
    "random_ok": 0 <= random.random() < 1,
    "point": dataclasses.asdict(Point(1, 2)),
    "typed": typing.get_type_hints(Point) == {"x": int, "y": int},
    "clock_ok": time.time() > 1.7e9,
    "latin1": "é".encode("latin-1").hex(),
}
"#;
    let a = run(&sb, program);
    let r = report(&a);
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(
        r["result"],
        json!({
            "mean_api": 100, "median": 120, "hyp": 5.0, "day": "Friday",
            "plus_week": "2024-03-04", "json": {"a": [1, 2]}, "errors": ["api", "db"],
            "sha256": "ba7816bf8f01", "md5": "90015098", "b64": "aGkgdGhlcmU=",
            "wrapped": ["the quick", "brown fox"], "top": [["i", 4], ["s", 4]],
            "pairs": [["a", "b"], ["a", "c"], ["b", "c"]], "product": 24, "decimal": "0.3",
            "fraction": "1/2", "letters": "abcde", "random_ok": true,
            "point": {"x": 1, "y": 2}, "typed": true, "clock_ok": true, "latin1": "e9",
        })
    );
}

#[test]
fn an_exception_fails_the_call_with_the_report_as_detail() {
    let sb = start();
    let a = run(
        &sb,
        "print('step 1')\ndef ratio(a, b):\n    return a / b\n\nratio(1, 0)",
    );
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    // The message alone lets the agent act: exception, where, and what was printed.
    let m = a.message();
    assert!(
        m.starts_with("the program raised ZeroDivisionError: division by zero"),
        "{m}"
    );
    assert!(
        m.contains("line 3, in ratio") && m.contains("step 1"),
        "{m}"
    );
    let r = report(&a);
    assert_eq!(r["output"], "step 1\n");
    assert_eq!(r["success"], false);
    assert_eq!(r["error"], "ZeroDivisionError: division by zero");
    let tb = r["traceback"].as_str().unwrap();
    assert!(tb.contains("File \"<code>\", line 5, in <module>"), "{tb}");
    assert!(tb.contains("File \"<code>\", line 3, in ratio"), "{tb}");
    assert!(tb.contains("return a / b"), "{tb}");
    assert!(
        !tb.contains("runner.py") && !tb.contains("app.py"),
        "internal frames: {tb}"
    );
}

#[test]
fn files_outside_the_workspace_are_out_of_reach_and_the_workspace_is_read_only() {
    let sb = start();
    let a = run(&sb, "print(open('/etc/passwd').read())");
    let r = report(&a);
    assert_eq!(r["success"], false);
    let error = r["error"].as_str().unwrap();
    assert!(error.starts_with("FileNotFoundError:"), "{error}");
    assert!(!a.body.to_string().contains("root:"), "{}", a.body);
    // FileNotFoundError is an OSError: ordinary error handling works.
    let a = run(
        &sb,
        "try:\n    open('/etc/passwd')\nexcept OSError as e:\n    result = type(e).__name__",
    );
    assert_eq!(report(&a)["result"], "FileNotFoundError");
    let a = run(&sb, "open('/workspace/new.txt', 'w').write('x')");
    let error = report(&a)["error"].as_str().unwrap().to_owned();
    assert!(
        error.starts_with("PermissionError:") || error.starts_with("OSError:"),
        "{error}"
    );
    assert_still_runs_programs(&sb);
}

#[test]
fn the_network_is_unreachable() {
    let sb = start();
    let (host, port) = sb.proc.addr().rsplit_once(':').unwrap();
    let a = run(
        &sb,
        &format!("import socket\nsocket.create_connection(({host:?}, {port}), timeout=2)"),
    );
    let r = report(&a);
    assert_eq!(r["success"], false, "{r}");
    // Name lookup is denied before a connection is even tried.
    assert!(r["error"].as_str().unwrap().starts_with("gaierror:"), "{r}");
    let a = run(
        &sb,
        &format!("import socket\nsocket.socket().connect(({host:?}, {port}))"),
    );
    let r = report(&a);
    assert!(
        r["error"].as_str().unwrap().starts_with("PermissionError:"),
        "{r}"
    );
    assert_still_runs_programs(&sb);
}

#[test]
fn an_endless_loop_stops_at_timeout_s() {
    let sb = start();
    let a = sb.call(
        "execute_code",
        json!({"language": "python", "code": "while True:\n    pass", "timeout_s": 2}),
    );
    assert_eq!(a.kind(), "timeout", "{}", a.body);
    assert!(
        a.message().contains("deadline it set itself, 2") && a.message().contains("limit is 2m"),
        "{}",
        a.message()
    );
    assert!(a.elapsed >= Duration::from_secs(2), "{:?}", a.elapsed);
    assert!(
        a.elapsed < Duration::from_secs(2) + MARGIN,
        "{:?}",
        a.elapsed
    );
    assert_still_runs_programs(&sb);
}

#[test]
fn a_program_blocked_in_sleep_stops_at_timeout_s() {
    // Blocked in a host call, the guest runs no wasm for the epoch to interrupt: the host's
    // timer must follow the deadline the program set for itself.
    let sb = start();
    let a = sb.call(
        "execute_code",
        json!({"language": "python", "code": "import time\ntime.sleep(100)", "timeout_s": 1}),
    );
    assert_eq!(a.kind(), "timeout", "{}", a.body);
    assert!(a.elapsed >= Duration::from_secs(1), "{:?}", a.elapsed);
    assert!(
        a.elapsed < Duration::from_secs(1) + MARGIN,
        "{:?}",
        a.elapsed
    );
    assert_still_runs_programs(&sb);
}

/// The host's memory limiter traps the instance when it grows past its cap, rather than
/// failing the growth, so CPython never sees a failed allocation (no `MemoryError`): the call
/// ends with `memory_limit`, its output lost, and the next call gets a fresh instance.
#[test]
fn a_memory_bomb_ends_the_call_at_the_memory_cap() {
    let sb = start();
    let a = run(
        &sb,
        "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))",
    );
    assert_eq!(a.kind(), "memory_limit", "{}", a.body);
    assert!(a.message().contains("256MiB"), "{}", a.message());
    let peak = a.body["stats"]["memory_peak"].as_u64().unwrap();
    assert!(peak <= 256 << 20, "peak {peak} above the cap");
    assert_still_runs_programs(&sb);
}

#[test]
fn output_past_100_000_characters_is_cut_and_flagged() {
    let sb = start();
    let a = run(&sb, "print('x' * 200_000)\n'still returned'");
    let r = report(&a);
    assert_eq!(r["truncated"], true);
    assert_eq!(r["output"].as_str().unwrap().chars().count(), 100_000);
    assert_eq!(
        (&r["success"], &r["result"]),
        (&json!(true), &json!("still returned"))
    );
}

#[test]
fn programs_call_tools_as_python_functions() {
    let sb = start();
    let program = r#"
import tools
from tools import echo
first = echo.echo(text="hi")
slug = tools.text_transform.text_transform(text="Hello World", operation="slug")
{"echo": first, "slug": slug["result"], "via_call": tools.call("echo", text="x")["length"]}
"#;
    let a = run(&sb, program);
    let r = report(&a);
    assert_eq!(
        r["result"],
        json!({"echo": {"text": "hi", "length": 2}, "slug": "hello-world", "via_call": 1}),
        "{r}"
    );
    assert_eq!(r["tool_calls"], 3);
    assert_eq!(a.body["stats"]["nested_calls"], 3);
}

#[test]
fn tool_functions_are_documented_from_their_schemas() {
    let sb = start();
    let program = r#"
import inspect, tools
from tools import text_transform
help(text_transform.text_transform)
[str(inspect.signature(text_transform.text_transform)), tools.help("echo")]
"#;
    let a = run(&sb, program);
    let r = report(&a);
    let signature = r["result"][0].as_str().unwrap();
    // Keyword-only: the host's schemas do not keep the order of their properties.
    assert!(
        signature.starts_with("(*, ")
            && signature.contains("text: str")
            && signature.contains("operation: Literal['upper', 'lower',")
            && signature.ends_with(") -> dict"),
        "{signature}"
    );
    let doc = r["result"][1].as_str().unwrap();
    assert!(doc.contains("text (string): Text to send back."), "{doc}");
    assert!(doc.contains("length (integer)"), "{doc}");
    // The built-in help() works too, printing the same documentation.
    let output = r["output"].as_str().unwrap();
    assert!(output.contains("Arguments (keywords only):"), "{output}");
    assert_eq!(r["tool_calls"], 0);
}

#[test]
fn failed_tool_calls_raise_typed_exceptions() {
    let sb = start();
    let program = r#"
import tools
seen = {}
for name, call in [
    ("not_found", lambda: tools.call("no_such_tool")),
    ("invalid", lambda: tools.echo.echo(text=5)),
]:
    try:
        call()
    except tools.ToolError as e:
        seen[name] = [type(e).__name__, e.kind]
try:
    tools.echo.echo(txt="typo")
except TypeError as e:
    seen["typo"] = str(e)
seen
"#;
    let a = run(&sb, program);
    let r = &report(&a)["result"];
    assert_eq!(r["not_found"], json!(["ToolNotFound", "not_found"]), "{r}");
    assert_eq!(
        r["invalid"],
        json!(["ToolInvalidArguments", "invalid_arguments"]),
        "{r}"
    );
    assert!(
        r["typo"].as_str().unwrap().contains("did you mean 'text'"),
        "{r}"
    );
}

/// Code cannot probe the catalog: a tool that exists but the caller's roles do not grant and
/// a tool that does not exist raise the same exception, with the same kind and the same words
/// (only the name differs); neither names the caller or their roles.
#[test]
fn unknown_and_forbidden_tools_answer_alike_inside_python() {
    // `coder` may run code but not the examples.
    let sb = Sandbox::start(Setup {
        toolsets: &["examples", "code"],
        extra_policy: "tools:\n  execute_code: { roles: [tester, coder] }\n",
        ..Setup::default()
    });
    let program = r#"
import tools
listed = [t["name"] for t in tools.list()]
seen = {}
for name in ["echo", "no_such_tool"]:
    try:
        tools.call(name, text="hi")
    except tools.ToolError as e:
        seen[name] = [type(e).__name__, e.kind, str(e).replace(name, "NAME")]
try:
    from tools import echo
except ImportError as e:
    import_error = str(e)
{"listed": listed, "seen": seen, "import_error": import_error}
"#;
    let a = sb.call_as(
        "execute_code",
        json!({"language": "python", "code": program}),
        "bob",
        &["coder"],
    );
    let r = &report(&a)["result"];
    assert_eq!(r["listed"], json!(["execute_code"]), "{r}");
    let (forbidden, unknown) = (&r["seen"]["echo"], &r["seen"]["no_such_tool"]);
    assert_eq!(forbidden[0], "ToolNotFound", "{r}");
    assert_eq!(forbidden[1], "not_found", "{r}");
    assert_eq!(
        forbidden, unknown,
        "forbidden and unknown tools differ: {r}"
    );
    let message = forbidden[2].as_str().unwrap();
    assert!(message.contains("'NAME'"), "{message}");
    assert!(
        !message.contains("bob") && !message.contains("coder"),
        "{message}"
    );
    assert!(
        r["import_error"]
            .as_str()
            .unwrap()
            .contains("among the tools you may call"),
        "{r}"
    );
}

#[test]
fn an_unsupported_language_is_invalid_arguments_naming_python() {
    let sb = start();
    let a = sb.call(
        "execute_code",
        json!({"language": "ruby", "code": "puts 1"}),
    );
    assert_eq!(a.kind(), "invalid_arguments", "{}", a.body);
    assert!(a.message().contains("python"), "{}", a.message());
    assert_still_runs_programs(&sb);
}
