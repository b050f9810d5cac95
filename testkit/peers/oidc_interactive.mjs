// A real OpenID Connect provider (panva/oidc-provider) for interactive sign-in tests, as a
// desktop client does it: dynamic client registration (RFC 7591), authorization code with PKCE
// (S256, required), a login and a consent page (the library's own development interactions:
// any password), and RS256 JWT access tokens for the gateway (aud mcp-gateway) carrying
// Keycloak-style claims of the signed-in account. Loopback only.
// Usage: NODE_PATH=<dir>/node_modules PORT=9100 node oidc_interactive.mjs
// Accounts: alice (mcp-user), bob (mcp-user, mcp-admin).
import { createRequire } from "node:module";
import { generateKeyPairSync, randomUUID } from "node:crypto";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const Provider = (await import(require.resolve("oidc-provider"))).default;

const PORT = Number(process.env.PORT || 9100);
const ISSUER = `http://127.0.0.1:${PORT}`;
const AUD = process.env.AUDIENCE || "mcp-gateway";
const ACCOUNTS = { alice: ["mcp-user"], bob: ["mcp-user", "mcp-admin"] };
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: randomUUID(), use: "sig", alg: "RS256" };

const provider = new Provider(ISSUER, {
  jwks: { keys: [jwk] },
  findAccount: async (ctx, id) =>
    ACCOUNTS[id] && { accountId: id, claims: async () => ({ sub: id, preferred_username: id }) },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => `urn:${AUD}`,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "openid mcp:tools",
        audience: AUD,
        accessTokenFormat: "jwt",
        accessTokenTTL: 3600,
        jwt: { sign: { alg: "RS256" } },
      }),
    },
  },
  clientDefaults: { token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"] },
  extraTokenClaims: async (ctx, token) => {
    const roles = ACCOUNTS[token.accountId] || [];
    return {
      preferred_username: token.accountId,
      realm_access: { roles },
      resource_access: { [AUD]: { roles } },
    };
  },
});
provider.on("server_error", (ctx, err) => console.error("server_error", err));
provider.listen(PORT, "127.0.0.1", () => console.log(`oidc-provider listening on ${ISSUER}`));
