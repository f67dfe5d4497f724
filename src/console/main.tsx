// The web console: served by the gateway at /console, built from the public GraphQL API only. A person
// signs in with a token (kept in this tab's sessionStorage, never in a URL or a log); every page shows
// what that token may see and offers what it may do (the hub refuses the rest anyway).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Hub, type Viewer, storeToken, storedToken } from './api.ts';
import { Problem } from './common.tsx';
import { ConfigPage } from './config.tsx';
import { RequestsPage, TokensPage } from './admin.tsx';
import { ViewerQuery } from './operations.ts';
import { ServicesPage } from './services.tsx';
import './style.css';

/** The page the location's hash names: `#/`, `#/config/<service>/<environment>`, `#/requests`, `#/tokens`. */
function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

function SignIn({ onSignedIn }: { onSignedIn: (hub: Hub, viewer: Viewer) => void }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    const hub = new Hub(token.trim());
    try {
      const { viewer } = await hub.request(ViewerQuery, {});
      if (!viewer) throw new Error('the hub did not accept this token');
      storeToken(hub.token);
      onSignedIn(hub, viewer);
    } catch (error) {
      setProblem((error as Error).message);
      hub.close();
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>confighub</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="off" value={token} onInput={(event) => setToken(event.currentTarget.value)} required />
        <p class="hint">Kept in this tab only (session storage); closing the tab signs you out.</p>
        <Problem text={problem} />
        <button type="submit" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<{ hub: Hub; viewer: Viewer } | null>(null);
  const [checking, setChecking] = useState(storedToken() !== null);
  const route = useRoute();

  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    const hub = new Hub(token);
    hub
      .request(ViewerQuery, {})
      .then(({ viewer }) => (viewer ? setSession({ hub, viewer }) : storeToken(null)))
      .catch(() => storeToken(null))
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <p class="loading">Loading…</p>;
  if (!session) return <SignIn onSignedIn={(hub, viewer) => setSession({ hub, viewer })} />;
  const { hub, viewer } = session;
  const signOut = () => {
    storeToken(null);
    hub.close();
    setSession(null);
  };
  const [page = '', ...rest] = route;
  return (
    <>
      <header>
        <a class="brand" href="#/">
          confighub
        </a>
        <nav aria-label="Main">
          <a href="#/" aria-current={page === '' || page === 'config' ? 'page' : undefined}>
            Services
          </a>
          <a href="#/requests" aria-current={page === 'requests' ? 'page' : undefined}>
            Change requests
          </a>
          {viewer.role === 'ADMIN' && (
            <a href="#/tokens" aria-current={page === 'tokens' ? 'page' : undefined}>
              Tokens
            </a>
          )}
        </nav>
        <span class="who">
          {viewer.name} ({viewer.role.toLowerCase()})
        </span>
        <button type="button" class="quiet" onClick={signOut}>
          Sign out
        </button>
      </header>
      {page === 'config' && rest[0] ? (
        <ConfigPage key={rest.join('/')} hub={hub} viewer={viewer} service={rest[0]} environment={rest[1] ?? 'production'} />
      ) : page === 'requests' ? (
        <RequestsPage hub={hub} viewer={viewer} />
      ) : page === 'tokens' && viewer.role === 'ADMIN' ? (
        <TokensPage hub={hub} />
      ) : (
        <ServicesPage hub={hub} />
      )}
    </>
  );
}

render(<App />, document.getElementById('app')!);
