import type { RouteRecordRaw } from 'vue-router';

// Engineer E1: sign-in, payments, ledger, analytics (and the auth guard in router.ts).
export const coreRoutes: RouteRecordRaw[] = [
  { path: '/', name: 'home', component: () => import('./pages/HomePage.vue'), meta: { title: 'Home' } },
];
