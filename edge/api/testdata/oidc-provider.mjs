// A certified OpenID provider (panva/oidc-provider v9) for the end-to-end
// tests of OIDC sign-in: one static confidential client, test accounts
// whose claims come from $ACCOUNTS, the provider's own development login
// and consent forms (any password), PKCE required, and the user's claims
// in the ID token. Run by idp_e2e_test.go:
//
//   OIDC_PROVIDER_URL=file:///…/oidc-provider/lib/index.js PORT=… \
//   CLIENT_ID=… CLIENT_SECRET=… REDIRECT_URI=… ACCOUNTS='{"alice":{…}}' node oidc-provider.mjs
const { default: Provider } = await import(process.env.OIDC_PROVIDER_URL);

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Put the user's claims in the ID token itself, not only behind userinfo.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['entrepot-test-cookie-key'] },
  async findAccount(ctx, id) {
    const a = accounts[id];
    if (!a) return undefined;
    return {
      accountId: id,
      async claims() { return { sub: id, preferred_username: id, ...a }; },
    };
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
