import type { RouteRecordRaw } from 'vue-router';

// Engineer E2: customers, subscriptions, invoices, API keys, webhooks, reconciliation. `minRole` is
// the least role whose calls the page's reads pass (the server checks every call again):
// customers' names and emails, API keys and webhook endpoints are for developers and owners.
export const businessRoutes: RouteRecordRaw[] = [
  { path: '/customers', name: 'customers', component: () => import('./pages/business/CustomersPage.vue'), meta: { title: 'Customers', nav: true, minRole: 'developer' } },
  { path: '/customers/:customerId', name: 'customer', component: () => import('./pages/business/CustomerPage.vue'), meta: { title: 'Customer', minRole: 'developer' } },
  { path: '/subscriptions', name: 'subscriptions', component: () => import('./pages/business/SubscriptionsPage.vue'), meta: { title: 'Subscriptions', nav: true } },
  { path: '/subscriptions/:subscriptionId', name: 'subscription', component: () => import('./pages/business/SubscriptionPage.vue'), meta: { title: 'Subscription' } },
  { path: '/invoices', name: 'invoices', component: () => import('./pages/business/InvoicesPage.vue'), meta: { title: 'Invoices', nav: true } },
  { path: '/invoices/:invoiceId', name: 'invoice', component: () => import('./pages/business/InvoicePage.vue'), meta: { title: 'Invoice' } },
  { path: '/api-keys', name: 'api-keys', component: () => import('./pages/business/ApiKeysPage.vue'), meta: { title: 'API keys', nav: true, minRole: 'developer' } },
  { path: '/webhooks', name: 'webhooks', component: () => import('./pages/business/WebhooksPage.vue'), meta: { title: 'Webhooks', nav: true, minRole: 'developer' } },
  { path: '/webhooks/:endpointId', name: 'webhook', component: () => import('./pages/business/WebhookEndpointPage.vue'), meta: { title: 'Webhook endpoint', minRole: 'developer' } },
  { path: '/recon', name: 'recon', component: () => import('./pages/business/ReconPage.vue'), meta: { title: 'Reconciliation', nav: true } },
  { path: '/recon/:runId', name: 'recon-run', component: () => import('./pages/business/ReconRunPage.vue'), meta: { title: 'Reconciliation run' } },
];
