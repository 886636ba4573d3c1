// A real, OpenID-certified provider (panva's oidc-provider) on loopback, for revoker's tests.
//
//   node provider.mjs [--port N | --fd N] [--config JSON | --config FILE | --config -]
//
// --port 0 (the default) takes any free port on 127.0.0.1; --fd N listens on a socket the
// parent has already bound (so the parent knows the issuer before the provider starts).
// --config - reads the JSON configuration from the first line on stdin (what
// tests/peers/oidc_peer.py does, so client secrets never show in a process list); if stdin
// stays open after that line, the provider exits when it closes (its parent is gone).
// Once listening it prints one JSON line on stdout, and nothing else ever goes to stdout:
//   {"issuer": "http://127.0.0.1:PORT", "jwks_uri": ..., "clients": [...], "resource": ..., "pid": ...}
// It exits 0 on SIGTERM or SIGINT. Diagnostics (the provider's own notices, failed back-channel
// deliveries, server errors) go to stderr, one line each, never with a token or a secret.
//
// Configuration (every key optional; see README.md):
//   clients: [{client_id, client_secret, alg, redirect_uris, post_logout_redirect_uris,
//              backchannel_logout_uri}]       default: rp-rs256, rp-ps256, rp-es256, rp-eddsa
//   backchannel_logout_uri                     default for every client that names none
//   resource, resource_scope                   the resource server of RFC 9068 JWT access tokens
//   access_token_alg                           fixed alg for those; default: the client's alg
//   access_token_sid                           also put the session's sid in JWT access tokens
//   access_token_ttl_seconds, id_token_ttl_seconds, refresh_token_ttl_seconds, session_ttl_seconds
//   jwks                                       private JWKS to sign with; default: fresh keys

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import { Provider, errors } from 'oidc-provider';

// stdout carries the ready line alone: the provider's notices (console.info) go to stderr.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

const ALGS = { RS256: 'rs256', PS256: 'ps256', ES256: 'es256', EdDSA: 'eddsa' };
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
const DEFAULT_RESOURCE = 'https://api.example.test';

// The first line on stdin, and whether stdin is still open after it.
function firstStdinLine() {
  return new Promise((resolve) => {
    let text = '';
    let done = false;
    const onData = (chunk) => {
      if (done) return; // later input is only drained, so that 'end' still fires
      text += chunk;
      const end = text.indexOf('\n');
      if (end >= 0) {
        done = true;
        process.stdin.off('end', onEnd);
        resolve({ line: text.slice(0, end), open: true });
      }
    };
    const onEnd = () => resolve({ line: text, open: false });
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', onData);
    process.stdin.once('end', onEnd);
  });
}

// --config takes inline JSON ('{...}'), a file's path, or - for the first line on stdin.
async function readConfig(source) {
  if (source === undefined) return { config: {} };
  if (source.trimStart().startsWith('{')) return { config: JSON.parse(source) };
  if (source !== '-') return { config: JSON.parse(fs.readFileSync(source, 'utf8')) };
  const { line, open } = await firstStdinLine();
  return { config: line.trim() === '' ? {} : JSON.parse(line), stdinOpen: open };
}

function signingKeys() {
  const key = (kid, alg, type, options) => ({
    ...crypto.generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
    kid,
    alg,
    use: 'sig',
  });
  // The first key is the default (RS256); the others are chosen by a client's alg.
  return {
    keys: [
      key('peer-rs256', 'RS256', 'rsa', { modulusLength: 2048 }),
      key('peer-ps256', 'PS256', 'rsa', { modulusLength: 2048 }),
      key('peer-es256', 'ES256', 'ec', { namedCurve: 'P-256' }),
      key('peer-eddsa', 'EdDSA', 'ed25519', {}),
    ],
  };
}

function defaultClients() {
  // Fixed, test-only secrets for a manual run; the harness always passes its own.
  return Object.entries(ALGS).map(([alg, suffix]) => ({
    client_id: `rp-${suffix}`,
    client_secret: `rp-${suffix}-secret`,
    alg,
  }));
}

function clientMetadata(client, config) {
  const backchannel = client.backchannel_logout_uri ?? config.backchannel_logout_uri;
  return {
    client_id: client.client_id,
    client_secret: client.client_secret,
    id_token_signed_response_alg: client.alg ?? 'RS256',
    redirect_uris: client.redirect_uris ?? ['http://127.0.0.1/callback'],
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...(backchannel
      ? { backchannel_logout_uri: backchannel, backchannel_logout_session_required: true }
      : {}),
  };
}

// The provider refuses to call special-use addresses (its SSRF guard); this peer only ever
// calls the loopback back-channel receivers the tests run, so it allows loopback and nothing else.
async function loopbackFetch(url, options) {
  const { hostname } = new URL(url);
  if (!LOOPBACK.has(hostname)) {
    throw new Error(`the test peer only calls loopback, not ${hostname}`);
  }
  const { dispatcher, ...rest } = options; // drop the guard's dispatcher, keep the timeout
  return globalThis.fetch(url, rest);
}

function configuration(config) {
  const resource = config.resource ?? DEFAULT_RESOURCE;
  const resourceScope = config.resource_scope ?? 'api:read api:write';
  const accessTokenTtl = config.access_token_ttl_seconds ?? 600;
  const clients = (config.clients ?? defaultClients()).map((c) => clientMetadata(c, config));
  return {
    clients,
    jwks: config.jwks ?? signingKeys(),
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
    },
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub, email: `${sub}@example.test`, email_verified: true };
        },
      };
    },
    features: {
      devInteractions: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, client, oneOf) {
          return oneOf;
        },
        async getResourceServerInfo(ctx, indicator, client) {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: resourceScope,
            accessTokenTTL: accessTokenTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: config.access_token_alg ?? client.idTokenSignedResponseAlg } },
          };
        },
      },
    },
    ...(config.access_token_sid
      ? { extraTokenClaims: async (ctx, token) => (token.sid ? { sid: token.sid } : undefined) }
      : {}),
    fetch: loopbackFetch,
    responseTypes: ['code'],
    pkce: { required: () => true },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: config.id_token_ttl_seconds ?? 600,
      RefreshToken: config.refresh_token_ttl_seconds ?? 86400,
      Grant: config.session_ttl_seconds ?? 86400,
      Session: config.session_ttl_seconds ?? 86400,
      Interaction: 600,
    },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

function quietLog(provider) {
  const say = (what, detail) => console.error(`oidc-peer: ${what}: ${detail}`);
  provider.on('server_error', (ctx, err) => say('server error', err.stack ?? err.message));
  provider.on('backchannel.error', (ctx, err, client) => {
    say('back-channel logout failed', `${client.clientId}: ${err.message}`);
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      fd: { type: 'string' },
      config: { type: 'string' },
    },
  });
  const { config, stdinOpen } = await readConfig(values.config);
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    if (values.fd !== undefined) {
      server.listen({ fd: Number(values.fd) }, resolve);
    } else {
      server.listen(Number(values.port), '127.0.0.1', resolve);
    }
  });
  const { address, port } = server.address();
  if (address !== '127.0.0.1') {
    throw new Error(`the test peer listens on 127.0.0.1 only, not ${address}`);
  }
  const issuer = `http://127.0.0.1:${port}`;
  const settings = configuration(config);
  const provider = new Provider(issuer, settings);
  quietLog(provider);
  server.on('request', provider.callback());

  const stop = () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (stdinOpen) {
    // The parent keeps stdin open while it wants the provider: if it dies, the provider goes too.
    process.stdin.once('end', stop);
  }

  const ready = {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    discovery: `${issuer}/.well-known/openid-configuration`,
    clients: settings.clients.map((c) => c.client_id),
    resource: config.resource ?? DEFAULT_RESOURCE,
    pid: process.pid,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

main().catch((err) => {
  console.error(`oidc-peer: failed to start: ${err.stack ?? err.message}`);
  process.exit(1);
});
