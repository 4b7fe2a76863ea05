// A minimal Backstage frontend (the legacy createApp system) with the
// notifications and signals plugins, for driving against Herald's
// examples/server. The backend URL and the user token are read at start
// from /config.json, which the server serving this app writes:
//
//   {"backendUrl": "http://127.0.0.1:7007", "token": "u1", "user": "user:default/alice"}
//
// Everything else is Backstage's own: the default discovery API
// (${backend.baseUrl}/api/{pluginId}), the default fetch API (adds the
// identity's token to requests to the backend), the signals client (token as
// the WebSocket sub-protocol), the notifications page, sidebar item and
// settings card.
import '@backstage/ui/css/styles.css';
import { createRoot } from 'react-dom/client';
import { Navigate, Route } from 'react-router-dom';
import { createApp } from '@backstage/app-defaults';
import { AppRouter, FlatRoutes } from '@backstage/core-app-api';
import {
  Content,
  Header,
  Page,
  Sidebar,
  SidebarItem,
  SidebarPage,
} from '@backstage/core-components';
import {
  NotificationsPage,
  NotificationsSidebarItem,
  UserNotificationSettingsCard,
  notificationsPlugin,
} from '@backstage/plugin-notifications';
import { signalsPlugin } from '@backstage/plugin-signals';

// SignInPage signs in at once as the configured user: Herald's
// examples/server knows users by static bearer token.
function signInPage(cfg) {
  const identity = {
    getProfileInfo: async () => ({ displayName: cfg.user }),
    getBackstageIdentity: async () => ({
      type: 'user',
      userEntityRef: cfg.user,
      ownershipEntityRefs: [cfg.user],
    }),
    getCredentials: async () => ({ token: cfg.token }),
    signOut: async () => {},
  };
  return function SignInPage({ onSignInSuccess }) {
    queueMicrotask(() => onSignInSuccess(identity));
    return null;
  };
}

function SettingsIcon() {
  return <span aria-hidden="true">⚙</span>;
}

function NotificationSettingsPage() {
  return (
    <Page themeId="home">
      <Header title="Settings" />
      <Content>
        <UserNotificationSettingsCard />
      </Content>
    </Page>
  );
}

async function main() {
  const cfg = await (await fetch('/config.json')).json();
  const app = createApp({
    plugins: [notificationsPlugin, signalsPlugin],
    configLoader: async () => [
      {
        context: 'herald',
        data: {
          app: { title: 'Herald', baseUrl: window.location.origin },
          backend: { baseUrl: cfg.backendUrl },
        },
      },
    ],
    components: { SignInPage: signInPage(cfg) },
  });
  const App = app.createRoot(
    <AppRouter>
      <SidebarPage>
        <Sidebar>
          <NotificationsSidebarItem />
          <SidebarItem icon={SettingsIcon} to="/settings" text="Settings" />
        </Sidebar>
        <FlatRoutes>
          <Route path="/" element={<Navigate to="/notifications" />} />
          <Route path="/notifications" element={<NotificationsPage />} />
          <Route path="/settings" element={<NotificationSettingsPage />} />
        </FlatRoutes>
      </SidebarPage>
    </AppRouter>,
  );
  createRoot(document.getElementById('root')).render(<App />);
}

main();
