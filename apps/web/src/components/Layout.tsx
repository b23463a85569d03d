import { useEffect, useState } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import { Access, useSession } from '../auth/session';

const NAV: Array<{ to: string; label: string; access: Access }> = [
  { to: '/', label: 'Dashboard', access: 'read' },
  { to: '/certificates', label: 'Certificates', access: 'read' },
  { to: '/short-lived', label: 'Short-lived', access: 'read' },
  { to: '/issuers', label: 'Issuers', access: 'read' },
  { to: '/targets', label: 'Targets', access: 'read' },
  { to: '/agents', label: 'Agents', access: 'read' },
  { to: '/fleet', label: 'Fleet', access: 'read' },
  { to: '/agent-groups', label: 'Agent groups', access: 'read' },
  { to: '/health-checks', label: 'Health checks', access: 'read' },
  { to: '/policies', label: 'Policies', access: 'read' },
  { to: '/profiles', label: 'Profiles', access: 'read' },
  { to: '/owners', label: 'Owners', access: 'read' },
  { to: '/teams', label: 'Teams', access: 'read' },
  { to: '/jobs', label: 'Jobs', access: 'read' },
  { to: '/approvals', label: 'Approvals', access: 'read' },
  { to: '/notifications', label: 'Notifications', access: 'read' },
  { to: '/digest', label: 'Digest', access: 'read' },
  { to: '/observability', label: 'Observability', access: 'read' },
  { to: '/discovery', label: 'Discovery', access: 'read' },
  { to: '/acme', label: 'ACME', access: 'read' },
  { to: '/reports/readiness', label: 'Readiness', access: 'read' },
  { to: '/reissue', label: 'Re-issue drill', access: 'write' },
  { to: '/audit', label: 'Audit', access: 'audit' },
  { to: '/settings', label: 'Settings', access: 'read' },
];

type Theme = 'light' | 'dark';

/** Light or dark, remembered on this browser; the default follows the system setting. */
function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => {
    const saved = localStorage.getItem('certctl.theme');
    if (saved === 'light' || saved === 'dark') return saved;
    return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  });
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('certctl.theme', theme);
  }, [theme]);
  return [theme, () => setTheme((t) => (t === 'dark' ? 'light' : 'dark'))];
}

export function Layout() {
  const session = useSession();
  const [theme, toggleTheme] = useTheme();
  // On a narrow screen the navigation folds behind a Menu button; following a link folds it again.
  const [menuOpen, setMenuOpen] = useState(false);
  const { pathname } = useLocation();
  useEffect(() => setMenuOpen(false), [pathname]);
  return (
    <div className={`shell ${menuOpen ? 'menu-open' : ''}`}>
      <header className="topbar">
        <button type="button" className="menu-toggle" aria-expanded={menuOpen} aria-controls="main-nav" onClick={() => setMenuOpen((o) => !o)}>
          ☰ Menu
        </button>
        <a className="brand" href="#main">
          certctl
        </a>
        <span className="who">
          {session.actor ?? ''} {session.role && <span className="badge">{session.role}</span>}
        </span>
        <button type="button" onClick={toggleTheme} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>
          {theme === 'dark' ? '☀ Light' : '☾ Dark'}
        </button>
        <button type="button" onClick={session.signOut}>
          Sign out
        </button>
      </header>
      <nav className="sidebar" id="main-nav" aria-label="Main">
        <ul>
          {NAV.filter((item) => session.can(item.access)).map((item) => (
            <li key={item.to}>
              <NavLink to={item.to} end={item.to === '/'}>
                {item.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content">
        {/* Pages load while the key's access is still being asked: controls appear once it is known, never before. */}
        <Outlet />
      </main>
    </div>
  );
}
