// Peer for bench/run.sh: panva's oidc-provider (v9) issuing RS256 JWT access tokens for the
// client_credentials grant, in memory (its default MemoryAdapter), one node process per gunicorn
// worker behind one port (node:cluster). Started by run.sh with the package installed in
// bench/.node-oidc (git-ignored); benchmark only.
//
//   node server.mjs            env: PORT, WORKERS, CLIENT_SECRET, OIDC_MODULE (path to oidc-provider)
import cluster from 'node:cluster';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

const port = Number(process.env.PORT || 3000);
const workers = Number(process.env.WORKERS || 1);
const resource = 'urn:heimdall-bench:api';

if (cluster.isPrimary) {
  // One RS256 key for every worker, so any worker's token verifies with the published JWKS.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };
  const env = { BENCH_JWK: JSON.stringify(jwk), BENCH_COOKIE_KEY: randomBytes(32).toString('hex') };
  for (let i = 0; i < workers; i++) cluster.fork(env);
  cluster.on('exit', (worker, code, signal) => {
    console.error(`worker ${worker.process.pid} exited (${signal || code})`);
    process.exitCode = 1;
  });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      for (const id in cluster.workers) cluster.workers[id].kill('SIGTERM');
      process.exit(0);
    });
  }
} else {
  const { default: Provider } = await import(process.env.OIDC_MODULE || 'oidc-provider');
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [
      {
        client_id: 'bench',
        client_secret: process.env.CLIENT_SECRET || 'bench-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        // Heimdall's scenario sends the secret in the (JSON) body: the form-body twin here.
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    scopes: ['docs.read'],
    jwks: { keys: [JSON.parse(process.env.BENCH_JWK)] },
    cookies: { keys: [process.env.BENCH_COOKIE_KEY] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'docs.read',
          audience: resource,
          accessTokenTTL: 900,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  http.createServer(provider.callback()).listen(port, '127.0.0.1');
}
