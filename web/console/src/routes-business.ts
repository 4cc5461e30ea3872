import type { RouteRecordRaw } from 'vue-router';

// Engineer E2: customers, subscriptions, invoices, API keys, webhooks, reconciliation.
export const businessRoutes: RouteRecordRaw[] = [];
