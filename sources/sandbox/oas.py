"""Small builders for OpenAPI 3.1 fragments, so each system's document reads like its contract."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
DECIMAL: Schema = {"type": "string", "pattern": r"^-?\d+\.\d{2}$"}
DATE_TIME: Schema = {"type": "string", "format": "date-time"}
DATE: Schema = {"type": "string", "format": "date"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(**properties: Schema) -> Schema:
    return {"type": "object", "required": list(properties), "properties": properties}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def batch(name: str, limit: int, description: str, required: bool = True) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "style": "form",
        "explode": True,
        "description": f"{description}; repeat the parameter, at most {limit} values.",
        "schema": {"type": "array", "items": STRING, "minItems": 1, "maxItems": limit},
    }


def query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def bounded(low: int, high: int, default: int) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high, "default": default}


def get(
    summary: str, parameters: list[Schema], answer: str, max_batch: int | None = None
) -> Schema:
    operation: Schema = {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": ref(answer)}},
            },
            "400": {
                "description": "Bad input",
                "content": {"application/json": {"schema": ref("Error")}},
            },
        },
    }
    if max_batch is not None:
        operation["x-max-batch"] = max_batch
    return {"get": operation}


def in_path(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _json(status_schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": status_schema}}}


def patch(
    summary: str, parameters: list[Schema], body: Schema, answers: dict[str, Schema]
) -> Schema:
    """A write: a JSON body in, each status answered with its own schema."""
    return {
        "patch": {
            "summary": summary,
            "parameters": parameters,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {status: _json(schema, status) for status, schema in answers.items()},
        }
    }


def responses(operation: Schema, extra: dict[str, Schema]) -> Schema:
    """`operation` (a `get`) answering more statuses than 200 and 400."""
    for method in operation.values():
        for status, schema in extra.items():
            method["responses"][status] = _json(schema, status)
    return operation
