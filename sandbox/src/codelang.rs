//! Code-mode languages on the host: which engine runs an `execute_code` program, and the
//! JavaScript and TypeScript programs made ready for the JavaScript engine before the call.
//!
//! `execute_code` takes `language`: `python` (the default) runs in the CPython component that
//! declares the tool; `javascript` and `typescript` run in the SpiderMonkey component
//! (`code/javascript`, the tool [`JS_ENGINE`]), with the same arguments, limits and report.
//! The host parses those programs with oxc ([`prepare`]) so that the guest stays small and every
//! mistake comes back with its line and column before an instance is made:
//!
//! - syntax errors, and `import`/`export` statements, `import()` and `require(...)` (a program
//!   cannot load modules: its tools are `tools.*`, the built-ins are global);
//! - TypeScript has its types stripped (oxc's transformer, which also compiles `enum` and
//!   `namespace`) and is printed back as JavaScript, with the TypeScript line of each printed
//!   line (from the printer's source map) for the engine's tracebacks;
//! - a program ending with an expression statement gets it as `return (<expression>)`, so the
//!   guest, which runs the program as the body of an async function, returns its value.
//!
//! This module does not run anything and does not look at tools; the service routes the call
//! ([`route`]) and the guest reports what the program did.

use std::path::Path;

use mcp_contract::sandbox_api::{CallError, ErrorKind};
use oxc_allocator::Allocator;
use oxc_ast::ast::{CallExpression, Expression, ImportExpression, Program, Statement};
use oxc_ast_visit::Visit;
use oxc_ast_visit::walk;
use oxc_codegen::{Codegen, CodegenOptions};
use oxc_parser::{ParseOptions, Parser};
use oxc_semantic::SemanticBuilder;
use oxc_span::{GetSpan, SourceType, Span};
use oxc_transformer::{TransformOptions, Transformer};
use serde_json::{Map, Value};

/// The tool that dispatches on `language`.
pub const ROUTED_TOOL: &str = "execute_code";
/// The tool of the JavaScript engine (`code/javascript/app.js`), which runs JavaScript and
/// TypeScript programs made ready by [`prepare`].
pub const JS_ENGINE: &str = "execute_javascript";
/// The argument that tells the JavaScript engine the host prepared the program.
const PREPARED: &str = "prepared";
/// The argument with the TypeScript line of each line of the prepared program, so the engine's
/// tracebacks point into the program as sent.
const SOURCE_LINES: &str = "source_lines";

/// A language `execute_code` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Python,
    JavaScript,
    TypeScript,
}

impl Language {
    /// The language an `execute_code` call asks for (`python` when it names none).
    pub fn of(arguments: &Value) -> Option<Self> {
        match arguments.get("language") {
            None | Some(Value::Null) => Some(Self::Python),
            Some(Value::String(s)) => match s.as_str() {
                "python" => Some(Self::Python),
                "javascript" | "js" => Some(Self::JavaScript),
                "typescript" | "ts" => Some(Self::TypeScript),
                _ => None,
            },
            Some(_) => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Python => "Python",
            Self::JavaScript => "JavaScript",
            Self::TypeScript => "TypeScript",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Self::TypeScript => "program.ts",
            _ => "program.js",
        }
    }
}

/// Where a position in the program is, both 1-based (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    fn at(source: &str, offset: u32) -> Self {
        let offset = (offset as usize).min(source.len());
        let before = source.get(..offset).unwrap_or(source);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a program cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error("{language} syntax error at {at}: {message}")]
    Syntax {
        language: &'static str,
        at: Position,
        message: String,
    },
    #[error(
        "{what} at {at}: programs cannot load modules; call tools as \
         `await tools.<component>.<tool>({{...}})` and use the built-ins (JSON, Math, Date, \
         Intl, ...), which are global"
    )]
    Module { what: &'static str, at: Position },
    #[error("TypeScript at {at} cannot be compiled: {message}")]
    Transform { at: Position, message: String },
}

impl PrepareError {
    fn position(&self) -> Position {
        match self {
            Self::Syntax { at, .. } | Self::Module { at, .. } | Self::Transform { at, .. } => *at,
        }
    }

    /// The exception's name in the report, as the guest would name it.
    fn exception(&self) -> &'static str {
        match self {
            Self::Syntax { .. } | Self::Transform { .. } => "SyntaxError",
            Self::Module { .. } => "ImportError",
        }
    }

    /// The failure as the engine reports a program that threw: a `tool_error` whose detail is
    /// the report with `success` false, `error` and a `traceback` naming the position.
    pub fn into_call_error(self, language: Language) -> CallError {
        let at = self.position();
        let message = self.to_string();
        let report = serde_json::json!({
            "success": false,
            "output": "",
            "truncated": false,
            "result": null,
            "error": format!("{}: {message}", self.exception()),
            "traceback": format!("{}:{}:{}", language.file(), at.line, at.column),
            "duration_ms": 0,
            "fuel_used": 0,
            "tool_calls": 0,
        });
        CallError::new(ErrorKind::ToolError, message).with_detail(report)
    }
}

/// What the service runs for a call of `tool` with `arguments` (JSON text that passed `tool`'s
/// input schema): `None` to run it as asked, or the tool to run instead and its arguments.
pub fn route(tool: &str, arguments: &str) -> Result<Option<(&'static str, String)>, CallError> {
    if tool != ROUTED_TOOL && tool != JS_ENGINE {
        return Ok(None);
    }
    let arguments: Value = serde_json::from_str(arguments).map_err(|e| {
        CallError::new(
            ErrorKind::InvalidArguments,
            format!("arguments for tool '{tool}' are not valid JSON: {e}"),
        )
    })?;
    let language = match (tool, Language::of(&arguments)) {
        (ROUTED_TOOL, Some(Language::Python) | None) => return Ok(None),
        (ROUTED_TOOL, Some(language)) => language,
        (_, Some(Language::TypeScript)) => Language::TypeScript,
        _ => Language::JavaScript,
    };
    let code = arguments.get("code").and_then(Value::as_str).unwrap_or("");
    let prepared = prepare(language, code).map_err(|e| e.into_call_error(language))?;
    let mut engine = Map::new();
    engine.insert("language".into(), Value::from("javascript"));
    engine.insert("code".into(), Value::from(prepared.code));
    if let Some(lines) = prepared.source_lines {
        engine.insert(SOURCE_LINES.into(), Value::from(lines));
    }
    if let Some(timeout) = arguments.get("timeout_s") {
        engine.insert("timeout_s".into(), timeout.clone());
    }
    engine.insert(PREPARED.into(), Value::Bool(true));
    Ok(Some((JS_ENGINE, Value::Object(engine).to_string())))
}

/// The error of a JavaScript or TypeScript call in a sandbox without the JavaScript engine.
pub fn engine_missing(engine: &str) -> CallError {
    CallError::new(
        ErrorKind::InvalidArguments,
        format!(
            "this sandbox cannot run JavaScript or TypeScript: its JavaScript engine (tool \
             '{engine}', javascript.wasm) is not loaded; use language \"python\""
        ),
    )
}

/// A program ready for the JavaScript engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub code: String,
    /// For TypeScript: the line (1-based) of the program as sent that each line of `code`
    /// comes from.
    pub source_lines: Option<Vec<u32>>,
}

/// `code` made ready for the JavaScript engine (see the module documentation).
pub fn prepare(language: Language, code: &str) -> Result<Prepared, PrepareError> {
    match language {
        Language::Python => Ok(Prepared {
            code: code.to_owned(),
            source_lines: None,
        }),
        Language::JavaScript => Ok(Prepared {
            code: return_last_expression(language, code)?.0,
            source_lines: None,
        }),
        Language::TypeScript => {
            let (javascript, mut lines) = strip_types(code)?;
            let (code, inserted) = return_last_expression(Language::JavaScript, &javascript)?;
            if let Some(at) = inserted {
                let before = at.checked_sub(1).and_then(|i| lines.get(i)).copied();
                lines.insert(at.min(lines.len()), before.unwrap_or(1));
            }
            Ok(Prepared {
                code,
                source_lines: Some(lines),
            })
        }
    }
}

fn parse<'a>(
    allocator: &'a Allocator,
    language: Language,
    code: &'a str,
) -> Result<Program<'a>, PrepareError> {
    let source_type = match language {
        Language::TypeScript => SourceType::ts().with_module(true),
        _ => SourceType::mjs(),
    };
    let parsed = Parser::new(allocator, code, source_type)
        .with_options(ParseOptions {
            allow_return_outside_function: true,
            ..ParseOptions::default()
        })
        .parse();
    if let Some(first) = parsed.diagnostics.into_iter().next() {
        let offset = first.labels.first().map_or(0, |l| l.offset());
        return Err(PrepareError::Syntax {
            language: language.name(),
            at: Position::at(code, offset),
            message: first.message.to_string(),
        });
    }
    if parsed.panicked {
        return Err(PrepareError::Syntax {
            language: language.name(),
            at: Position::at(code, 0),
            message: "the program could not be parsed".to_owned(),
        });
    }
    let mut modules = ModuleUse::default();
    modules.visit_program(&parsed.program);
    if let Some((what, span)) = modules.first() {
        return Err(PrepareError::Module {
            what,
            at: Position::at(code, span.start),
        });
    }
    Ok(parsed.program)
}

/// TypeScript printed back as JavaScript, without its types, and the TypeScript line of each
/// printed line. The compiler runs on the caller's program inside the host, so a panic in it
/// is caught and answered as an error.
fn strip_types(code: &str) -> Result<(String, Vec<u32>), PrepareError> {
    std::panic::catch_unwind(|| strip_types_unguarded(code)).unwrap_or_else(|_| {
        Err(PrepareError::Transform {
            at: Position::at(code, 0),
            message: "the TypeScript compiler failed on this program; simplify the types or \
                      send it as JavaScript"
                .to_owned(),
        })
    })
}

fn strip_types_unguarded(code: &str) -> Result<(String, Vec<u32>), PrepareError> {
    let allocator = Allocator::default();
    let mut program = parse(&allocator, Language::TypeScript, code)?;
    let scoping = SemanticBuilder::new()
        .with_enum_eval(true)
        .build(&program)
        .semantic
        .into_scoping();
    let transformed = Transformer::new(
        &allocator,
        Path::new(Language::TypeScript.file()),
        &TransformOptions::default(),
    )
    .build_with_scoping(scoping, &mut program);
    if let Some(first) = transformed.diagnostics.into_iter().next() {
        let offset = first.labels.first().map_or(0, |l| l.offset());
        return Err(PrepareError::Transform {
            at: Position::at(code, offset),
            message: first.message.to_string(),
        });
    }
    let printed = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(Language::TypeScript.file().into()),
            ..CodegenOptions::default()
        })
        .build(&program);
    let mut lines: Vec<Option<u32>> = vec![None; printed.code.lines().count().max(1)];
    for token in printed.map.iter().flat_map(|map| map.get_tokens()) {
        if let Some(line) = lines.get_mut(token.get_dst_line() as usize) {
            line.get_or_insert(token.get_src_line() + 1);
        }
    }
    // Lines without a token of their own (closing braces) belong to the line before them.
    let mut last = 1;
    let lines = lines
        .into_iter()
        .map(|line| {
            last = line.unwrap_or(last);
            last
        })
        .collect();
    Ok((printed.code, lines))
}

/// JavaScript whose final expression statement, if any, is returned, and the index of the
/// line this inserted (the closing parenthesis); everything else stays where it was, so
/// positions in errors still point into the program as written.
fn return_last_expression(
    language: Language,
    code: &str,
) -> Result<(String, Option<usize>), PrepareError> {
    let allocator = Allocator::default();
    let program = parse(&allocator, language, code)?;
    let Some(Statement::ExpressionStatement(last)) = program.body.last() else {
        return Ok((code.to_owned(), None));
    };
    let span = last.expression.span();
    let (start, end) = (span.start as usize, span.end as usize);
    let inserted = code[..end].matches('\n').count() + 1;
    Ok((
        format!(
            "{}return ({}\n){}",
            &code[..start],
            &code[start..end],
            &code[end..]
        ),
        Some(inserted),
    ))
}

/// Finds the first use of a module system: `import`/`export` statements, `import(...)`, and
/// `require(...)` unless the program defines `require` itself.
#[derive(Default)]
struct ModuleUse {
    found: Vec<(&'static str, Span)>,
    require_calls: Vec<Span>,
    defines_require: bool,
}

impl ModuleUse {
    fn first(&self) -> Option<(&'static str, Span)> {
        let requires = self
            .require_calls
            .iter()
            .filter(|_| !self.defines_require)
            .map(|span| ("`require(...)`", *span));
        self.found
            .iter()
            .copied()
            .chain(requires)
            .min_by_key(|(_, span)| span.start)
    }
}

impl<'a> Visit<'a> for ModuleUse {
    fn visit_statement(&mut self, it: &Statement<'a>) {
        if let Some(declaration) = it.as_module_declaration() {
            let what = if declaration.is_import() {
                "an `import` statement"
            } else {
                "an `export` statement"
            };
            self.found.push((what, declaration.span()));
            return;
        }
        if let Statement::TSImportEqualsDeclaration(d) = it {
            self.found.push(("an `import ... = require(...)`", d.span));
            return;
        }
        walk::walk_statement(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        self.found.push(("`import(...)`", it.span));
        walk::walk_import_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::Identifier(callee) = &it.callee
            && callee.name == "require"
        {
            self.require_calls.push(it.span);
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_binding_identifier(&mut self, it: &oxc_ast::ast::BindingIdentifier<'a>) {
        if it.name == "require" {
            self.defines_require = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ts(code: &str) -> Result<String, PrepareError> {
        prepare(Language::TypeScript, code).map(|p| p.code)
    }

    fn js(code: &str) -> Result<String, PrepareError> {
        prepare(Language::JavaScript, code).map(|p| p.code)
    }

    #[test]
    fn typescript_lines_map_back_to_the_program_as_sent() {
        let source = "type Row = { n: number }\n\n\
                      function f(r: Row): number {\n  throw new Error(String(r.n))\n}\n\n\
                      f({n: 1})";
        let prepared = prepare(Language::TypeScript, source).unwrap();
        let lines = prepared.source_lines.unwrap();
        let code: Vec<&str> = prepared.code.lines().collect();
        assert_eq!(lines.len(), code.len(), "{code:?} {lines:?}");
        let at = |needle: &str| {
            let i = code.iter().position(|l| l.contains(needle)).unwrap();
            lines[i]
        };
        assert_eq!(at("function f(r)"), 3, "{code:?} {lines:?}");
        assert_eq!(at("throw new Error"), 4, "{code:?} {lines:?}");
        assert_eq!(at("return (f("), 7, "{code:?} {lines:?}");
        assert_eq!(
            prepare(Language::JavaScript, "1").unwrap().source_lines,
            None
        );
    }

    #[test]
    fn the_last_expression_is_returned_and_the_rest_keeps_its_place() {
        assert_eq!(
            js("const x = 6\nx * 7;").unwrap(),
            "const x = 6\nreturn (x * 7\n);"
        );
        assert_eq!(
            js("const r = await tools.call('echo', {})\n// done\nr // it").unwrap(),
            "const r = await tools.call('echo', {})\n// done\nreturn (r\n) // it"
        );
        // Nothing to return: as written (top-level `return` works too).
        assert_eq!(js("let a = 1\nreturn a").unwrap(), "let a = 1\nreturn a");
        assert_eq!(js("for (;;) break").unwrap(), "for (;;) break");
        assert_eq!(js("").unwrap(), "");
    }

    #[test]
    fn typescript_loses_its_types_and_keeps_its_values() {
        let out = ts("interface Row { service: string; n: number }\n\
             const rows: Row[] = [{service: 'api', n: 2}]\n\
             function total<T extends Row>(xs: T[]): number { return xs.reduce((a, r) => a + r.n, 0) }\n\
             enum Level { Info = 'INFO', Error = 'ERROR' }\n\
             const n = (rows as Row[]).length satisfies number\n\
             total(rows)! + n")
            .unwrap();
        for gone in [
            "interface",
            ": Row[]",
            "<T extends Row>",
            "satisfies",
            " as Row",
        ] {
            assert!(!out.contains(gone), "{gone} left in:\n{out}");
        }
        assert!(out.contains("Level[\"Info\"] = \"INFO\""), "{out}");
        assert!(out.contains("return (total(rows) + n"), "{out}");
        // What comes out is JavaScript the JavaScript path accepts.
        js(&out).unwrap();
    }

    #[test]
    fn syntax_errors_name_the_line_and_column() {
        let e = ts("const a: number = 1\nconst b: = 2").unwrap_err();
        let PrepareError::Syntax { language, at, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (*language, *at),
            (
                "TypeScript",
                Position {
                    line: 2,
                    column: 10
                }
            )
        );
        assert!(
            e.to_string()
                .starts_with("TypeScript syntax error at line 2, column 10: ")
        );
        let e = js("let x = ;").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("JavaScript syntax error at line 1, column 9"),
            "{e}"
        );
        // Type annotations are TypeScript, not JavaScript.
        assert!(matches!(
            js("const a: number = 1"),
            Err(PrepareError::Syntax { .. })
        ));
    }

    #[test]
    fn module_loading_is_refused_with_its_position() {
        let cases = [
            ("import fs from 'fs'", "an `import` statement", 1, 1),
            ("const x = 1\nexport { x }", "an `export` statement", 2, 1),
            ("const m = await import('node:fs')", "`import(...)`", 1, 17),
            (
                "let a = 1\n  const fs = require('fs')",
                "`require(...)`",
                2,
                14,
            ),
        ];
        for (code, what, line, column) in cases {
            for result in [js(code), ts(code)] {
                assert_eq!(
                    result,
                    Err(PrepareError::Module {
                        what,
                        at: Position { line, column }
                    }),
                    "{code}"
                );
            }
        }
        let e = ts("import type { A } from './a'").unwrap_err();
        assert!(
            e.to_string().contains("programs cannot load modules"),
            "{e}"
        );
        // A program's own `require` is just a function.
        assert!(js("function require(x) { return x }\nrequire(1)").is_ok());
    }

    #[test]
    fn routing_sends_javascript_and_typescript_to_the_engine_prepared() {
        let python = json!({"language": "python", "code": "1"});
        assert_eq!(route(ROUTED_TOOL, &python.to_string()).unwrap(), None);
        assert_eq!(
            route(ROUTED_TOOL, &json!({"code": "1"}).to_string()).unwrap(),
            None
        );
        assert_eq!(route("echo", "{").unwrap(), None);
        let (tool, args) = route(
            ROUTED_TOOL,
            &json!({"language": "typescript", "code": "const a: number = 2\na", "timeout_s": 5})
                .to_string(),
        )
        .unwrap()
        .unwrap();
        let args: Value = serde_json::from_str(&args).unwrap();
        assert_eq!(tool, JS_ENGINE);
        assert_eq!(args["language"], "javascript");
        assert_eq!(args["timeout_s"], 5);
        assert_eq!(args["prepared"], true);
        assert!(
            args["code"].as_str().unwrap().contains("return (a"),
            "{args}"
        );
        // The engine's own tool is prepared the same way.
        assert!(
            route(JS_ENGINE, &json!({"code": "1"}).to_string())
                .unwrap()
                .is_some()
        );
        let e = route(
            ROUTED_TOOL,
            &json!({"language": "typescript", "code": "let = ;"}).to_string(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::ToolError);
        let detail = e.detail.unwrap();
        assert_eq!(detail["success"], false);
        assert_eq!(detail["traceback"], "program.ts:1:7");
        assert!(
            detail["error"]
                .as_str()
                .unwrap()
                .starts_with("SyntaxError: TypeScript syntax error at line 1, column 7"),
            "{detail}"
        );
    }
}
