"""Fake Microsoft Teams Workflows webhook ("When a Teams webhook request is received").

Validates what the documented flow needs (Microsoft Learn, "Create incoming webhooks with
Workflows for Microsoft Teams"; "Format cards in Teams"; digest llm-and-channels.md §6):
POST only, the sig= query parameter must match (the URL is the credential: 401 otherwise),
a JSON body {"type": "message", "attachments": [...]} whose attachments carry
contentType "application/vnd.microsoft.card.adaptive" and an AdaptiveCard `content` with a
version and a body of elements (400 otherwise: the template's "for each" fails on a missing
attachments array), at most 28 KB measured on the UTF-16 encoding (413), and only actions
incoming webhooks support (Action.OpenUrl, Action.ShowCard, Action.ToggleVisibility; 400 for
Action.Submit). Accepted posts answer 202 like the Workflows trigger; the cards are kept.
"""

from __future__ import annotations

from tests.fakes.base import FakeServer, RecordedRequest, Response

SIG = "fakeTeamsSig0123456789abcdef"
PATH = "/workflows/0f1x0ps/triggers/manual/paths/invoke"
CARD = "application/vnd.microsoft.card.adaptive"
SUPPORTED_ACTIONS = {"Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility"}
MAX_BYTES = 28 * 1024


class FakeTeams(FakeServer):
    name = "teams"
    routes = (("POST", PATH, "invoke"),)

    def reset_state(self) -> None:
        self.state = {"cards": []}

    def config(self, **settings) -> dict:
        query = f"api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
        return {
            "kind": "teams",
            "base_url": self.url,
            "credentials": {"webhook_url": f"{self.url}{PATH}?{query}"},
            "settings": {**settings},
        }

    def error_response(self, status, message, headers=None):
        return Response(status, {"error": {"code": str(status), "message": message}}, headers or {})

    def check_auth(self, req: RecordedRequest) -> Response | None:
        if req.arg("sig") != SIG:
            return self.error_response(401, "The provided sig is not valid")
        return None

    @property
    def cards(self) -> list[dict]:
        with self.lock:
            return list(self.state["cards"])

    def invoke(self, req: RecordedRequest) -> Response:
        message = req.json
        problem = _problem(message)
        if problem:
            return self.error_response(400, problem)
        if len(req.body.decode("utf-8").encode("utf-16-le")) > MAX_BYTES:
            return self.error_response(413, "message too large")
        with self.lock:
            for attachment in message["attachments"]:
                self.state["cards"].append(attachment["content"])
        return Response(202, None)


def _problem(message) -> str:
    if not isinstance(message, dict) or message.get("type") != "message":
        return 'the body must be {"type": "message", ...}'
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "'attachments' is of type 'Null'"
    for attachment in attachments:
        if attachment.get("contentType") != CARD:
            return f"unsupported contentType {attachment.get('contentType')!r}"
        content = attachment.get("content")
        if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            return "content must be an AdaptiveCard"
        if not content.get("version") or not isinstance(content.get("body"), list):
            return "an AdaptiveCard needs a version and a body"
        for element in content["body"]:
            if not isinstance(element, dict) or not element.get("type"):
                return "every card element needs a type"
        for action in content.get("actions") or []:
            if action.get("type") not in SUPPORTED_ACTIONS:
                return f"{action.get('type')} is not supported through incoming webhooks"
    return ""
