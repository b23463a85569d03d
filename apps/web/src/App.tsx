import { lazy, ReactNode, Suspense } from 'react';
import { Navigate, Route, Routes, useLocation } from 'react-router';
import { LoginPage } from './auth/LoginPage';
import { useSession } from './auth/session';
import { Layout } from './components/Layout';
import { useDocumentTitle } from './components/title';
import DashboardPage from './pages/DashboardPage';
import { NotificationsPage } from './pages/NotificationsPage';

// Pages load on first visit, so signing in downloads only the shell and the page shown (the dashboard's cards
// come with the shell, its charts load on their own).
const CertificatesPage = lazy(() => import('./pages/CertificatesPage'));
const AccessPage = lazy(() => import('./pages/AccessPage'));
const CertificateDetailPage = lazy(() => import('./pages/CertificateDetailPage'));
const IssuersPage = lazy(() => import('./pages/IssuersPage'));
const TargetsPage = lazy(() => import('./pages/TargetsPage'));
const AgentsPage = lazy(() => import('./pages/AgentsPage'));
const JobsPage = lazy(() => import('./pages/JobsPage'));
const ApprovalsPage = lazy(() => import('./pages/ApprovalsPage'));
const DiscoveryPage = lazy(() => import('./pages/DiscoveryPage'));
const AuditPage = lazy(() => import('./pages/AuditPage'));
const SettingsPage = lazy(() => import('./pages/SettingsPage'));
const PoliciesPage = lazy(() => import('./pages/PoliciesPage'));
const ProfilesPage = lazy(() => import('./pages/ProfilesPage'));
const OwnersPage = lazy(() => import('./pages/OwnersPage'));
const FleetPage = lazy(() => import('./pages/FleetPage'));
const IssuerDetailPage = lazy(() => import('./pages/IssuerDetailPage'));
const TeamsPage = lazy(() => import('./pages/TeamsPage'));
const AgentGroupsPage = lazy(() => import('./pages/AgentGroupsPage'));
const AgentGroupDetailPage = lazy(() => import('./pages/AgentGroupDetailPage'));
const HealthChecksPage = lazy(() => import('./pages/HealthChecksPage'));
const DigestPage = lazy(() => import('./pages/DigestPage'));
const ObservabilityPage = lazy(() => import('./pages/ObservabilityPage'));
const ShortLivedPage = lazy(() => import('./pages/ShortLivedPage'));
const JobDetailPage = lazy(() => import('./pages/JobDetailPage'));
const AgentDetailPage = lazy(() => import('./pages/AgentDetailPage'));
const TargetDetailPage = lazy(() => import('./pages/TargetDetailPage'));

function NoSuchPage() {
  useDocumentTitle('No such page');
  return <p className="state">No such page.</p>;
}
const ReadinessPage = lazy(() => import('./pages/ReadinessPage'));
const ReissueDrillPage = lazy(() => import('./pages/ReissueDrillPage'));
const AcmePage = lazy(() => import('./pages/AcmePage'));

function RequireSignIn({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (!session.signedIn) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}

/** An auditor may read only the audit trail: the dashboard sends it there. */
function Home() {
  const session = useSession();
  if (session.known && !session.can('cert.read', 'any') && session.can('audit.read', 'any')) return <Navigate to="/audit" replace />;
  // The dashboard's requests start at once; an auditor's are refused and it is sent on as soon as its role is known.
  return <DashboardPage />;
}

export function App() {
  return (
    <Suspense fallback={<p className="state" role="status">Loading…</p>}>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route
          element={
            <RequireSignIn>
              <Layout />
            </RequireSignIn>
          }
        >
          <Route index element={<Home />} />
          <Route path="certificates" element={<CertificatesPage />} />
          <Route path="certificates/:id" element={<CertificateDetailPage />} />
          <Route path="issuers" element={<IssuersPage />} />
          <Route path="issuers/:id" element={<IssuerDetailPage />} />
          <Route path="policies" element={<PoliciesPage />} />
          <Route path="profiles" element={<ProfilesPage />} />
          <Route path="owners" element={<OwnersPage />} />
          <Route path="fleet" element={<FleetPage />} />
          <Route path="targets" element={<TargetsPage />} />
          <Route path="targets/:id" element={<TargetDetailPage />} />
          <Route path="agents" element={<AgentsPage />} />
          <Route path="agents/:id" element={<AgentDetailPage />} />
          <Route path="jobs" element={<JobsPage />} />
          <Route path="approvals" element={<ApprovalsPage />} />
          <Route path="jobs/:id" element={<JobDetailPage />} />
          <Route path="teams" element={<TeamsPage />} />
          <Route path="agent-groups" element={<AgentGroupsPage />} />
          <Route path="agent-groups/:id" element={<AgentGroupDetailPage />} />
          <Route path="health-checks" element={<HealthChecksPage />} />
          <Route path="digest" element={<DigestPage />} />
          <Route path="short-lived" element={<ShortLivedPage />} />
          <Route path="observability" element={<ObservabilityPage />} />
          <Route path="notifications" element={<NotificationsPage />} />
          <Route path="discovery" element={<DiscoveryPage />} />
          <Route path="audit" element={<AuditPage />} />
          <Route path="settings" element={<SettingsPage />} />
          <Route path="access" element={<AccessPage />} />
          <Route path="reports/readiness" element={<ReadinessPage />} />
          <Route path="reissue" element={<ReissueDrillPage />} />
          <Route path="acme" element={<AcmePage />} />
          <Route path="*" element={<NoSuchPage />} />
        </Route>
      </Routes>
    </Suspense>
  );
}
