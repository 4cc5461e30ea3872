import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router';
import { coreRoutes } from './routes-core';
import { businessRoutes } from './routes-business';

// Hash history: the build has a relative base and no server-side routes, so it runs under /console/
// locally and at the root of its Hosting site deployed. Each route's `meta.title` names it in the nav.
const routes: RouteRecordRaw[] = [...coreRoutes, ...businessRoutes];

export const router = createRouter({ history: createWebHashHistory(), routes });
