"""Sample secrets, one per redaction rule (built from parts so secret scanners of this
repository do not flag the test data itself)."""

from __future__ import annotations

_BEGIN, _END = "-----BEGIN ", "-----END "

SAMPLES: dict[str, tuple[str, str]] = {
    # rule: (text containing the secret, the raw secret that must disappear)
    "private_key": (
        f"{_BEGIN}RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
        f"{_END}RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo",
    ),
    "aws_access_key_id": ("key=" + "AKIA" + "Z3MFJQ7K2XQ4PLDW", "AKIA" + "Z3MFJQ7K2XQ4PLDW"),
    "aws_secret_access_key": (
        "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "Q8a2Lp4vNe",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "Q8a2Lp4vNe",
    ),
    "github_token": (
        "ghp_" + "x7Rk2mQ9vL4pW8nT3bY6cJ1hF5dA0sZeUiOo",
        "ghp_" + "x7Rk2mQ9vL4pW8nT3bY6cJ1hF5dA0sZeUiOo",
    ),
    "gitlab_token": ("glpat-" + "Xy7Qm2Lp9Rt4Vb8Nc3Kd", "glpat-" + "Xy7Qm2Lp9Rt4Vb8Nc3Kd"),
    "slack_token": ("xoxb-" + "2841726354-Qm8Lp2Rt7Vb4Nc", "xoxb-" + "2841726354-Qm8Lp2Rt7Vb4Nc"),
    "slack_webhook": (
        "https://hooks.slack.com/services/" + "T0AB12CD3/B0EF45GH6/q9W8e7R6t5Y4u3I2o1P0",
        "q9W8e7R6t5Y4u3I2o1P0",
    ),
    "anthropic_key": ("sk-ant-" + "api03-Qm8Lp2Rt7Vb4Nc9Xz1Kd", "api03-Qm8Lp2Rt7Vb4Nc9Xz1Kd"),
    "openai_key": ("sk-proj-" + "Qm8Lp2Rt7Vb4Nc9Xz1KdWe5", "Qm8Lp2Rt7Vb4Nc9Xz1KdWe5"),
    "google_api_key": (
        "AIza" + "SyD4m8Lp2Rt7Vb4Nc9Xz1KdWe5Hj3Gf6Tq0",
        "SyD4m8Lp2Rt7Vb4Nc9Xz1KdWe5Hj3Gf6Tq0",
    ),
    "stripe_key": ("sk_live_" + "51Hq8Lp2Rt7Vb4Nc9Xz1Kd", "51Hq8Lp2Rt7Vb4Nc9Xz1Kd"),
    "jwt": (
        "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiJhbGljZSJ9.Qm8Lp2Rt7Vb4Nc9Xz1Kd",
        "eyJzdWIiOiJhbGljZSJ9",
    ),
    "url_credentials": ("postgres://app:" + "S3cr3tPassw0rd@db.internal/app", "S3cr3tPassw0rd"),
    "auth_header": (
        "Authorization: Bearer " + "Qm8Lp2Rt7Vb4Nc9Xz1KdWe5",
        "Qm8Lp2Rt7Vb4Nc9Xz1KdWe5",
    ),
    "generic_secret": ('DB_PASSWORD="' + 'k9#Vq2!mZ7$pL4@w"', "k9#Vq2!mZ7$pL4@w"),
}
