import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, JWK, SignJWT } from 'jose';

/** A person the provider knows: the login typed on its page is the account id. */
export interface OidcTestUser {
  email: string;
  groups: unknown;
  name?: string;
}

/**
 * How the next token answers' id_token is altered on its way out of the provider (the rest of the answer is the
 * provider's own): `tamper` breaks the signature; a function rewrites the claims and signs them again with the
 * provider's own key, so only the claim it changes is wrong; `unknown-kid` signs the same claims with a key the
 * provider never published (under a kid of its own).
 */
export type IdTokenMutation = 'tamper' | 'unknown-kid' | ((claims: Record<string, unknown>) => Record<string, unknown>);

export interface OidcPeer {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Applies to every token answer while set. */
  mutateIdToken: IdTokenMutation | undefined;
  /** What the provider reported when a back-channel logout call to a client failed. */
  backChannelErrors: string[];
  /** Signs a logout token with the provider's key, as its back-channel logout would. */
  signLogoutToken(claims: Record<string, unknown>): Promise<string>;
  /** Requests the provider's jwks_uri answered so far (the relying party's key reads). */
  jwksRequests: number;
  /** The kid the provider signs with now. */
  signingKid: string;
  /** Rotates the signing key: a new key signs from now on, published first in the JWKS beside the old one. */
  rotateSigningKey(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real OpenID provider (`oidc-provider`, OpenID Certified) on 127.0.0.1 with its development login and consent
 * pages, back-channel and RP-initiated logout, one confidential client (code + PKCE required) and the given users.
 * Its token answers pass one small hook so a test can hand the relying party a tampered or re-signed id_token.
 */
export async function startOidcPeer(options: {
  redirectUri: string;
  backchannelLogoutUri: string;
  postLogoutRedirectUri: string;
  users: Record<string, OidcTestUser>;
}): Promise<OidcPeer> {
  // The package ships no types; the name is held in a variable so the compiler does not look for them.
  const packageName = 'oidc-provider';
  const { default: Provider } = (await import(packageName)) as unknown as { default: new (issuer: string, config: Record<string, unknown>) => ProviderLike };
  const newKey = async (kid: string) => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    return { privateKey, jwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' } as JWK };
  };
  const keys = [await newKey('test-key-1')];
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'certctl-console';
  const clientSecret = 'test-client-secret-0123456789abcdef';

  const makeProvider = () => new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [options.redirectUri],
      post_logout_redirect_uris: [options.postLogoutRedirectUri],
      backchannel_logout_uri: options.backchannelLogoutUri,
      backchannel_logout_session_required: true,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: keys.map((k) => k.jwk) },
    findAccount: (_ctx: unknown, id: string) => {
      const user = options.users[id];
      if (!user) return undefined;
      return { accountId: id, claims: () => ({ sub: id, email: user.email, email_verified: true, name: user.name ?? id, groups: user.groups }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // The groups and e-mail travel in the id_token itself (the relying party may also read userinfo).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, backchannelLogout: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    cookies: { keys: ['oidc-peer-cookie-key-0123456789'] },
    // The provider refuses to call loopback addresses (its own SSRF guard); here the relying party is on 127.0.0.1.
    fetch: (url: string, init: RequestInit & { dispatcher?: unknown }) => {
      delete init.dispatcher;
      return fetch(url, init);
    },
  });
  let callback: (req: IncomingMessage, res: ServerResponse) => void;
  const start = () => {
    const provider = makeProvider();
    callback = provider.callback();
    provider.on('backchannel.error', (...args: unknown[]) => peer.backChannelErrors.push(`${String((args[1] as Error)?.message ?? args[1])} (${String(((args[1] as Error)?.cause as Error)?.message ?? '')})`));
  };
  const peer: OidcPeer = {
    issuer,
    clientId,
    clientSecret,
    mutateIdToken: undefined,
    backChannelErrors: [],
    signLogoutToken: (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: keys[0]!.jwk.kid!, typ: 'logout+jwt' }).sign(keys[0]!.privateKey),
    jwksRequests: 0,
    get signingKid() {
      return keys[0]!.jwk.kid!;
    },
    async rotateSigningKey() {
      keys.unshift(await newKey(`test-key-${keys.length + 1}`));
      // The provider reads its keys once, at construction: the rotated one is a new instance on the same issuer.
      start();
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };

  start();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const mutation = peer.mutateIdToken;
    if (mutation && req.method === 'POST' && req.url?.startsWith('/token')) interceptTokenAnswer(res, mutation, keys[0]!.privateKey);
    if (req.method === 'GET' && req.url?.startsWith('/jwks')) peer.jwksRequests += 1;
    callback(req, res);
  });
  return peer;
}

interface ProviderLike {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: string, listener: (...args: unknown[]) => void): void;
}

/** Rewrites the id_token in the JSON the provider is about to send (Koa ends the response with the whole body). */
function interceptTokenAnswer(res: ServerResponse, mutation: IdTokenMutation, key: CryptoKey): void {
  const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
  (res as unknown as { end: (chunk?: unknown) => ServerResponse }).end = (chunk?: unknown) => {
    if (chunk === undefined || res.statusCode !== 200) return end(chunk);
    const body = JSON.parse(Buffer.from(chunk as string | Buffer).toString('utf8')) as { id_token?: string };
    if (!body.id_token) return end(chunk);
    void rewrite(body.id_token, mutation, key).then((idToken) => {
      const text = JSON.stringify({ ...body, id_token: idToken });
      res.setHeader('content-length', Buffer.byteLength(text));
      end(text);
    });
    return res;
  };
}

async function rewrite(idToken: string, mutation: IdTokenMutation, key: CryptoKey): Promise<string> {
  if (mutation === 'tamper') {
    const [header, payload, signature] = idToken.split('.');
    // Flip one character in the middle of the signature: same length, valid base64url, wrong signature.
    const i = Math.floor(signature!.length / 2);
    const flipped = signature![i] === 'A' ? 'B' : 'A';
    return `${header}.${payload}.${signature!.slice(0, i)}${flipped}${signature!.slice(i + 1)}`;
  }
  const header = decodeProtectedHeader(idToken);
  if (mutation === 'unknown-kid') {
    const { privateKey: stranger } = await generateKeyPair('RS256');
    return new SignJWT(decodeJwt(idToken) as Record<string, unknown>).setProtectedHeader({ alg: header.alg!, kid: 'never-published', typ: header.typ }).sign(stranger);
  }
  return new SignJWT(mutation(decodeJwt(idToken) as Record<string, unknown>)).setProtectedHeader({ alg: header.alg!, kid: header.kid, typ: header.typ }).sign(key);
}
