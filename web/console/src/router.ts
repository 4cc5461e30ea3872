import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router';
import { coreRoutes } from './routes-core';
import { businessRoutes } from './routes-business';
import { roles, sessionReady, useSession, type Role } from './session';

// Hash history: the build has a relative base and no server-side routes, so it runs under /console/
// locally and at the root of its Hosting site deployed. Each route's `meta.title` names it; routes
// with `meta.nav` appear in the layout's navigation, for users of at least `meta.minRole`.
declare module 'vue-router' {
  interface RouteMeta {
    title?: string;
    /** Shown in the navigation. */
    nav?: boolean;
    /** The least role the page is for (the server enforces it anyway); default viewer. */
    minRole?: Role;
    /** Open without signing in (only the sign-in page). */
    public?: boolean;
  }
}

const routes: RouteRecordRaw[] = [...coreRoutes, ...businessRoutes, { path: '/:rest(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue'), meta: { title: 'Not found' } }];

export const router = createRouter({ history: createWebHashHistory(), routes });

// The auth guard: every page but sign-in needs a signed-in member of a tenant; the page asked for
// is kept in `next` so signing in returns there.
router.beforeEach(async (to) => {
  await sessionReady();
  const { signedIn, role } = useSession();
  if (to.meta.public) return signedIn.value && to.name === 'sign-in' ? sanitizeNext(to.query.next) : true;
  if (!signedIn.value) return { name: 'sign-in', query: { next: to.fullPath } };
  const min = to.meta.minRole ?? 'viewer';
  if (role.value === null || roles.indexOf(role.value) < roles.indexOf(min)) return { name: 'forbidden', query: { page: to.meta.title ?? to.fullPath } };
  return true;
});

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · Tally console` : 'Tally console';
});

/** Only an in-app path is followed after sign-in (never another origin). */
export function sanitizeNext(next: unknown): string {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') ? next : '/payments';
}
