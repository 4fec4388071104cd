//! The route table: every JSON route is added through [`Api::add`], which
//! registers the handler on the router and its description in the OpenAPI
//! 3.1 document, so the document cannot drift from the routes.

use axum::Router;
use axum::routing::MethodRouter;
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::AppState;

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One documented route.
#[derive(Clone, Copy)]
pub struct Route {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    public: bool,
    stream: bool,
    text: Option<&'static str>,
    soft: bool,
    body: Option<SchemaFn>,
    query: Option<SchemaFn>,
    response: Option<SchemaFn>,
}

impl Route {
    fn new(method: &'static str, path: &'static str, summary: &'static str) -> Self {
        Route {
            method,
            path,
            summary,
            public: false,
            stream: false,
            text: None,
            soft: false,
            body: None,
            query: None,
            response: None,
        }
    }

    /// A GET route.
    pub fn get(path: &'static str, summary: &'static str) -> Self {
        Self::new("get", path, summary)
    }
    /// A POST route.
    pub fn post(path: &'static str, summary: &'static str) -> Self {
        Self::new("post", path, summary)
    }
    /// A PUT route.
    pub fn put(path: &'static str, summary: &'static str) -> Self {
        Self::new("put", path, summary)
    }
    /// A DELETE route.
    pub fn delete(path: &'static str, summary: &'static str) -> Self {
        Self::new("delete", path, summary)
    }

    /// No bearer needed.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// Answers `text/event-stream`.
    pub fn stream(mut self) -> Self {
        self.stream = true;
        self
    }

    /// Answers text of this content type (HTML, Prometheus text), not JSON.
    pub fn text(mut self, content_type: &'static str) -> Self {
        self.text = Some(content_type);
        self
    }

    /// A 200 may also be the original's soft error `{"ok": false, "error"}`.
    pub fn or_soft_error(mut self) -> Self {
        self.soft = true;
        self
    }

    /// JSON request body of type `T`.
    pub fn body<T: JsonSchema>(mut self) -> Self {
        self.body = Some(|g| g.subschema_for::<T>());
        self
    }

    /// Query parameters: the fields of `T`.
    pub fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(|g| g.root_schema_for::<T>());
        self
    }

    /// JSON response of type `T`.
    pub fn returns<T: JsonSchema>(mut self) -> Self {
        self.response = Some(|g| g.subschema_for::<T>());
        self
    }
}

/// Router and document, built together.
pub struct Api {
    router: Router<AppState>,
    paths: Map<String, Value>,
    generator: SchemaGenerator,
}

impl Api {
    /// An empty table.
    pub fn new() -> Self {
        let settings = SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
        });
        Api {
            router: Router::new(),
            paths: Map::new(),
            generator: settings.into_generator(),
        }
    }

    /// Adds a route and its description.
    pub fn add(mut self, route: Route, handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(route.path, handler);
        let op = self.describe(&route);
        let item = self
            .paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        if let Value::Object(item) = item {
            item.insert(route.method.to_owned(), op);
        }
        self
    }

    fn describe(&mut self, route: &Route) -> Value {
        let mut params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_schema(name)}))
            .collect();
        if let Some(query) = route.query {
            let schema = query(&mut self.generator).to_value();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = schema["properties"].as_object() {
                for (name, s) in props {
                    params.push(json!({
                        "name": name, "in": "query",
                        "required": required.contains(&name.as_str()),
                        "description": s.get("description").cloned().unwrap_or(json!("")),
                        "schema": s,
                    }));
                }
            }
        }
        let mut op = json!({
            "summary": route.summary,
            "operationId": format!("{}_{}", route.method, route.path.replace(['/', '{', '}', '-', '.'], "_").trim_matches('_')),
            "parameters": params,
        });
        if let Some(body) = route.body {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": body(&mut self.generator).to_value()}},
            });
        }
        let content = if route.stream {
            json!({"text/event-stream": {"schema": {"type": "string"}}})
        } else if let Some(content_type) = route.text {
            json!({ content_type: {"schema": {"type": "string"}} })
        } else if let Some(resp) = route.response {
            let mut schema = resp(&mut self.generator).to_value();
            if route.soft {
                let soft = self
                    .generator
                    .subschema_for::<tubemail_core::api::SoftError>();
                schema = json!({"anyOf": [schema, soft.to_value()]});
            }
            json!({"application/json": {"schema": schema}})
        } else {
            json!({"application/json": {"schema": {}}})
        };
        // A page for a browser (an approval link) says what went wrong as
        // a page too.
        let page = route.text.is_some_and(|t| t.starts_with("text/html"));
        let error = if page {
            content.clone()
        } else {
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}})
        };
        let mut responses = json!({
            "200": {"description": "success", "content": content},
            "400": {"description": "invalid input", "content": error},
            "422": {"description": "malformed body or wrong field types", "content": error},
            "404": {"description": "unknown worker, flow, run or token, or nobody watches the terminal", "content": error},
            "409": {"description": "not now: the worker is not idle, or its manager is not connected", "content": error},
        });
        if page {
            responses["410"] = json!({"description": "the link was used already or has expired", "content": error});
        }
        if route.body.is_some() || matches!(route.method, "post" | "put") {
            responses["413"] = json!({"description": "body too large", "content": error});
            responses["507"] =
                json!({"description": "disk full: nothing was stored", "content": error});
        }
        if route.public {
            op["security"] = json!([]);
        } else {
            responses["401"] =
                json!({"description": "missing or invalid bearer token", "content": error});
            responses["403"] = json!({"description": "the token's scope does not cover this route (or a foreign Host/Origin)", "content": error});
            responses["429"] = json!({"description": "too many failed authentication attempts from this address (see Retry-After)", "content": error});
        }
        op["responses"] = responses;
        op
    }

    /// The router and the document.
    pub fn finish(mut self) -> (Router<AppState>, Value) {
        let mut schemas = self.generator.take_definitions(true);
        schemas.insert(
            "ErrorBody".into(),
            json!({
                "type": "object",
                "description": "`detail` is a message, or for 422 a list of {type, loc, msg}",
                "properties": {"detail": {}},
                "required": ["detail"],
            }),
        );
        let doc = json!({
            "openapi": "3.1.0",
            "info": {
                "title": "TubeMail hub",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "JSON API of the TubeMail hub. Every route needs `Authorization: Bearer <secret>` (or a scoped token from /api/tokens, within its scope) unless marked otherwise.",
            },
            "paths": self.paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        });
        (self.router, doc)
    }
}

/// The schema of a path parameter: worker and flow names follow the name
/// rule, run ids theirs, anything else is a string.
fn path_schema(name: &str) -> Value {
    match name {
        "worker" | "name" => json!({
            "type": "string",
            "pattern": tubemail_core::name::NAME_PATTERN,
            "maxLength": tubemail_core::name::MAX_NAME_LEN,
            "not": {"pattern": "\\.\\."},
        }),
        "run_id" => json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"}),
        _ => json!({"type": "string"}),
    }
}
