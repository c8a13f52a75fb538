"""Fake OPA server: the REST API FixOps uses (policies and data API, v1), evaluating with a
real Rego implementation (rego-cpp through regopy), so answers are Rego's, not canned.

- PUT /v1/policies/{id}   text/plain Rego module -> 200 {} ; 400 invalid_parameter on errors
- PUT /v1/data/{path}     JSON document          -> 204
- POST /v1/data/{path}    {"input": ...}          -> 200 {"result": ...}, or 200 {} if undefined
"""

from __future__ import annotations

import json

from regopy import Input, Interpreter, RegoError

from tests.fakes.base import FakeServer, RecordedRequest, Response


class FakeOpa(FakeServer):
    name = "opa"
    routes = (
        ("PUT", r"/v1/policies/(?P<policy_id>[\w.-]+)", "put_policy"),
        ("PUT", r"/v1/data/(?P<path>[\w/]+)", "put_data"),
        ("POST", r"/v1/data/(?P<path>[\w/]+)", "query"),
    )

    def reset_state(self) -> None:
        self.state = {"policies": {}, "data": {}}

    def check_auth(self, req: RecordedRequest) -> Response | None:
        return None  # OPA's default: no authentication

    def error_response(self, status, message, headers=None):
        return Response(status, {"code": "internal_error", "message": message}, headers or {})

    def put_policy(self, req, policy_id):
        source = req.body.decode()
        try:
            Interpreter().add_module(f"{policy_id}.rego", source)
        except RegoError as exc:
            return Response(
                400,
                {
                    "code": "invalid_parameter",
                    "message": "error(s) occurred while compiling module(s)",
                    "errors": [{"code": "rego_parse_error", "message": str(exc)[:500]}],
                },
            )
        with self.lock:
            self.state["policies"][policy_id] = source
        return Response(200, {})

    def put_data(self, req, path):
        document = req.json
        with self.lock:
            node = self.state["data"]
            *parents, leaf = path.split("/")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = document
        return Response(204)

    def query(self, req, path):
        body = req.json or {}
        with self.lock:
            policies = dict(self.state["policies"])
            data = json.loads(json.dumps(self.state["data"]))
        interpreter = Interpreter()
        interpreter.strict_built_in_errors = True
        interpreter.add_data(data)
        for policy_id, source in policies.items():
            interpreter.add_module(f"{policy_id}.rego", source)
        interpreter.set_input(Input(body.get("input", {})))
        output = interpreter.query("data." + path.replace("/", "."))
        if not output.ok():
            return Response(
                500, {"code": "internal_error", "message": "eval_builtin_error: evaluation failed"}
            )
        expressions = output[0].expressions if len(output) else []
        return Response(200, {"result": expressions[0]} if expressions else {})
