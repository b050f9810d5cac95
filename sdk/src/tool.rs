//! One tool: its name, description and annotations as declared by the author, the schemas
//! derived from its function's types, and the function itself behind a type-erased handler that
//! decodes arguments and encodes the result.

use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::ToolError;
use crate::schema;

/// Arguments of a tool that takes none. Its schema is an empty object; any object decodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct NoArgs {}

/// MCP tool annotations: hints for the client about what a tool does. A hint the author does not
/// set is left out, and MCP's defaults apply (`readOnlyHint: false`, `destructiveHint: true`,
/// `idempotentHint: false`, `openWorldHint: true`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Annotations {
    /// `readOnlyHint`: the tool does not modify its environment.
    #[serde(rename = "readOnlyHint", skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// `destructiveHint`: the tool may delete or overwrite data (meaningful when not read-only).
    #[serde(rename = "destructiveHint", skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
    /// `idempotentHint`: calling it again with the same arguments has no further effect.
    #[serde(rename = "idempotentHint", skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// `openWorldHint`: the tool reaches outside entities (the network, other systems).
    #[serde(rename = "openWorldHint", skip_serializing_if = "Option::is_none")]
    pub open_world: Option<bool>,
}

impl Annotations {
    /// Whether no hint is set (then the descriptor carries no annotations at all).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Decodes the arguments, runs the tool function and encodes its result.
pub(crate) type Handler = Box<dyn Fn(&str, &Context) -> Result<String, ToolError>>;

/// A tool: a function from a `Deserialize` arguments type to a `Serialize` result type, with the
/// name and description the agent sees. Build it with [`Tool::new`] and the hint methods, then
/// add it to a [`Toolbox`](crate::Toolbox).
pub struct Tool {
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: String,
    pub(crate) annotations: Annotations,
    pub(crate) arguments_type: &'static str,
    pub(crate) arguments_schema: fn() -> Schema,
    pub(crate) result_schema: Option<fn() -> Schema>,
    pub(crate) handler: Handler,
}

impl Tool {
    /// A tool named `name` that runs `function`. The argument schema derives from `A`; the
    /// output schema derives from `R` when `R` serialises as a JSON object. Doc comments on the
    /// types and their fields become schema descriptions, so write them for the agent.
    ///
    /// A result that serialises to a JSON string is sent to the agent as text.
    pub fn new<A, R, F>(
        name: impl Into<String>,
        description: impl Into<String>,
        function: F,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema,
        R: Serialize + JsonSchema,
        F: Fn(A, &Context) -> Result<R, ToolError> + 'static,
    {
        let name = name.into();
        let handler = handler(name.clone(), function);
        Self {
            name,
            title: None,
            description: description.into(),
            annotations: Annotations::default(),
            arguments_type: std::any::type_name::<A>(),
            arguments_schema: schema::arguments_schema::<A>,
            result_schema: Some(schema::result_schema::<R>),
            handler,
        }
    }

    /// A human-readable display name.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The tool does not modify its environment (`readOnlyHint: true`).
    pub fn read_only(mut self) -> Self {
        self.annotations.read_only = Some(true);
        self
    }

    /// Whether the tool may perform destructive updates (`destructiveHint`; MCP assumes `true`
    /// for a tool that is not read-only).
    pub fn destructive(mut self, destructive: bool) -> Self {
        self.annotations.destructive = Some(destructive);
        self
    }

    /// Calling the tool again with the same arguments has no further effect
    /// (`idempotentHint: true`).
    pub fn idempotent(mut self) -> Self {
        self.annotations.idempotent = Some(true);
        self
    }

    /// Whether the tool reaches an open world of external entities such as the web
    /// (`openWorldHint`; MCP assumes `true`). Pass `false` for a self-contained tool.
    pub fn open_world(mut self, open_world: bool) -> Self {
        self.annotations.open_world = Some(open_world);
        self
    }

    /// Declares the output schema of `T` instead of the one derived from the function's result
    /// type, e.g. when the function returns `serde_json::Value` built to match `T`.
    pub fn output_schema<T: JsonSchema>(mut self) -> Self {
        self.result_schema = Some(schema::result_schema::<T>);
        self
    }

    /// Declares no output schema even if the result is an object.
    pub fn without_output_schema(mut self) -> Self {
        self.result_schema = None;
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn handler<A, R, F>(name: String, function: F) -> Handler
where
    A: DeserializeOwned,
    R: Serialize,
    F: Fn(A, &Context) -> Result<R, ToolError> + 'static,
{
    Box::new(move |arguments, cx| {
        let arguments = decode_arguments::<A>(&name, arguments)?;
        let result = function(arguments, cx)?;
        serde_json::to_string(&result).map_err(|error| {
            ToolError::Failed(format!(
                "the result of `{name}` cannot be encoded as JSON: {error}"
            ))
        })
    })
}

/// Decodes arguments JSON text; an empty text counts as an empty object.
fn decode_arguments<A: DeserializeOwned>(tool: &str, arguments: &str) -> Result<A, ToolError> {
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(arguments).map_err(|error| {
        ToolError::InvalidArguments(format!("the arguments of `{tool}` do not decode: {error}"))
    })
}
