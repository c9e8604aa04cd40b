// A real OpenID provider (panva's oidc-provider) on loopback for jwtgate's remote-keys tests.
// Usage: node provider.mjs CONFIG.json
// CONFIG: { "port": 0 or N, "jwks": {private JWKS}, "clients": [{client_id, client_secret}],
//           "resources": { "<resource URL>": "<alg>" }, "default_alg": "RS256" }
// Issues JWT access tokens (typ at+jwt) through the client-credentials grant with a resource
// indicator; the token's audience is the resource and its signing algorithm the one mapped
// to it (default_alg for any other resource). Prints "ready <port>" once listening and one
// "request <METHOD> <path>" line per request (no query string), so a test can count fetches.
import fs from 'node:fs';
import net from 'node:net';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

// Port 0 is resolved first, because the issuer URL has to name the real port.
async function choosePort(requested) {
  if (requested) {
    return requested;
  }
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const port = await choosePort(config.port);
const issuer = `http://127.0.0.1:${port}`;
const resources = config.resources || {};

const provider = new Provider(issuer, {
  jwks: config.jwks,
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo: (ctx, resource) => ({
        scope: 'api:read api:write',
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: resources[resource] || config.default_alg || 'RS256' } },
      }),
    },
  },
  scopes: ['api:read', 'api:write'],
  cookies: { keys: ['jwtgate-test-cookie-key-not-secret'] },
  ttl: { ClientCredentials: 600 },
});

provider.use(async (ctx, next) => {
  process.stdout.write(`request ${ctx.method} ${ctx.path}\n`);
  await next();
});

provider.on('server_error', (ctx, error) => {
  process.stderr.write(`server_error: ${error.message}\n`);
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
