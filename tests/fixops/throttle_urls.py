"""Test-only URLs: an inbound-webhook stand-in (the real inbound endpoints come with a later
issue) and a view offering two representations chosen with ?format=, beside the real API."""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer, StaticHTMLRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from fixops.platform.api.negotiation import QueryFormatNegotiation
from fixops.platform.api.throttling import IntegrationWebhookThrottle


class WebhookStandIn(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [IntegrationWebhookThrottle]

    def post(self, request, integration_id: int):
        return Response({"received": integration_id})


class PlainRenderer(StaticHTMLRenderer):
    media_type = "text/plain"
    format = "txt"


class TwoFormats(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, PlainRenderer]
    content_negotiation_class = QueryFormatNegotiation

    def get(self, request):
        if request.accepted_renderer.format == "txt":
            return Response("plain text")
        return Response({"format": "json"})


urlpatterns = [
    path("hooks/<int:integration_id>/", WebhookStandIn.as_view()),
    path("two-formats/", TwoFormats.as_view()),
    path("", include("fixops.urls")),
]
