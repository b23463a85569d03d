import { useEffect, useState } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import type { Permission } from '@certctl/contracts';
import { useSession, Where } from '../auth/session';

/** Each page shows in the menu when the caller may read what it lists (in any scope where its list filters rows). */
const NAV: Array<{ to: string; label: string; permission: Permission | Permission[]; scope?: Where }> = [
  { to: '/', label: 'Dashboard', permission: 'stats.read', scope: 'any' },
  { to: '/certificates', label: 'Certificates', permission: 'cert.read', scope: 'any' },
  { to: '/short-lived', label: 'Short-lived', permission: 'cert.read', scope: 'any' },
  { to: '/issuers', label: 'Issuers', permission: 'issuer.read', scope: 'any' },
  { to: '/targets', label: 'Targets', permission: 'target.read', scope: 'any' },
  { to: '/agents', label: 'Agents', permission: 'agent.read', scope: 'any' },
  { to: '/fleet', label: 'Fleet', permission: 'agent.read', scope: 'any' },
  { to: '/agent-groups', label: 'Agent groups', permission: 'agent.read' },
  { to: '/health-checks', label: 'Health checks', permission: 'healthcheck.read' },
  { to: '/policies', label: 'Policies', permission: 'policy.read' },
  { to: '/profiles', label: 'Profiles', permission: 'profile.read', scope: 'any' },
  { to: '/owners', label: 'Owners', permission: 'owner.read', scope: 'any' },
  { to: '/teams', label: 'Teams', permission: 'team.read', scope: 'any' },
  { to: '/jobs', label: 'Jobs', permission: 'job.read', scope: 'any' },
  { to: '/approvals', label: 'Approvals', permission: 'approval.read', scope: 'any' },
  { to: '/notifications', label: 'Notifications', permission: 'notification.read', scope: 'any' },
  { to: '/digest', label: 'Digest', permission: 'digest.read' },
  { to: '/observability', label: 'Observability', permission: 'metrics.read' },
  { to: '/discovery', label: 'Discovery', permission: 'discovery.read' },
  { to: '/acme', label: 'ACME', permission: 'acme.read' },
  { to: '/reports/readiness', label: 'Readiness', permission: 'report.read' },
  { to: '/reissue', label: 'Re-issue drill', permission: 'issuer.reissue', scope: { type: 'issuer' } },
  { to: '/audit', label: 'Audit', permission: 'audit.read', scope: 'any' },
  { to: '/access', label: 'Access', permission: 'auth.role.list' },
  { to: '/settings', label: 'Settings', permission: 'cert.read', scope: 'any' },
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
          {NAV.filter((item) => session.can(item.permission, item.scope)).map((item) => (
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
