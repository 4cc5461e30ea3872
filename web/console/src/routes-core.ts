import type { RouteRecordRaw } from 'vue-router';

// Engineer E1: sign-in, payments, ledger, analytics (the auth guard is in router.ts).
export const coreRoutes: RouteRecordRaw[] = [
  { path: '/', redirect: '/payments' },
  { path: '/sign-in', name: 'sign-in', component: () => import('./pages/SignInPage.vue'), meta: { title: 'Sign in', public: true } },
  { path: '/forbidden', name: 'forbidden', component: () => import('./pages/ForbiddenPage.vue'), meta: { title: 'Not allowed' } },
  { path: '/payments', name: 'payments', component: () => import('./pages/PaymentsPage.vue'), meta: { title: 'Payments', nav: true } },
  { path: '/payments/:paymentId', name: 'payment', component: () => import('./pages/PaymentDetailPage.vue'), meta: { title: 'Payment' } },
  { path: '/ledger', name: 'ledger', component: () => import('./pages/LedgerPage.vue'), meta: { title: 'Ledger', nav: true } },
  { path: '/ledger/:accountId', name: 'ledger-account', component: () => import('./pages/LedgerAccountPage.vue'), meta: { title: 'Ledger account' } },
  { path: '/analytics', name: 'analytics', component: () => import('./pages/AnalyticsPage.vue'), meta: { title: 'Analytics', nav: true } },
];
