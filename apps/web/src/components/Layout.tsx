import { useEffect, useState } from 'react';
import { NavLink, Outlet } from 'react-router';
import { Access, useSession } from '../auth/session';

const NAV: Array<{ to: string; label: string; access: Access }> = [
  { to: '/', label: 'Dashboard', access: 'read' },
  { to: '/certificates', label: 'Certificates', access: 'read' },
  { to: '/issuers', label: 'Issuers', access: 'read' },
  { to: '/targets', label: 'Targets', access: 'read' },
  { to: '/agents', label: 'Agents', access: 'read' },
  { to: '/jobs', label: 'Jobs', access: 'read' },
  { to: '/notifications', label: 'Notifications', access: 'read' },
  { to: '/discovery', label: 'Discovery', access: 'read' },
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
  return (
    <div className="shell">
      <header className="topbar">
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
      <nav className="sidebar" aria-label="Main">
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
