// A real OpenID Connect provider (panva/oidc-provider, OpenID Certified) for the SSO tests.
//
// node server.mjs CONFIG.json — CONFIG holds {port, issuer, jwks, clients, accounts,
// idTokenTtl, pkceOptional}. Accounts sign in with a real password check on a plain login
// form (no consent screen: first-party clients get their grant at once). Prints
// "listening <issuer>" when ready. Loopback only: binds 127.0.0.1.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts;
const idTokenTtl = config.idTokenTtl || {};
const pkceOptional = new Set(config.pkceOptional || []);

function same(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: (ctx, client) => !pkceOptional.has(client.clientId) },
  ttl: {
    IdToken: (ctx, token, client) => idTokenTtl[client.clientId] || 3600,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  cookies: { keys: ['fixops-test-idp-cookie-key'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
  },
  // First-party clients: grant what was asked without a consent screen.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    await grant.save();
    return grant;
  },
});

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><body>${body}</body></html>`);
}

function loginForm(uid, error) {
  return `<h1>Test IdP sign-in</h1>${error ? `<p class="error">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}">
<input name="login" autocomplete="username"><input name="password" type="password">
<button type="submit">Sign in</button></form>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(req.url.split('?')[0]);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== match[1]) return page(res, 400, 'interaction mismatch');
    if (req.method === 'GET') return page(res, 200, loginForm(details.uid));
    const form = await readForm(req);
    const account = accounts[form.get('login')];
    if (!account || !same(account.password, form.get('password') || '')) {
      return page(res, 401, loginForm(details.uid, 'wrong login or password'));
    }
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: form.get('login') } },
      { mergeWithLastSubmission: false },
    );
  } catch (err) {
    return page(res, 400, `interaction failed: ${err.message}`);
  }
});

server.listen(config.port, '127.0.0.1', () => {
  console.log(`listening ${config.issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
