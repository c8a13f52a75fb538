// Submits the SAML POST-binding form (a file, not an inline script, so CSP stays strict).
document.getElementById("saml-post").submit();
