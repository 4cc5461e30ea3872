import { QueryClient, VueQueryPlugin } from '@tanstack/vue-query';
import { createApp } from 'vue';
import App from './App.vue';
import { router } from './router';

const queryClient = new QueryClient({
  defaultOptions: {
    // Refused calls (bad input, permission) are answers, not outages: retry only what may pass on retry.
    queries: { retry: (failures, error) => failures < 2 && retryable(error), staleTime: 10_000 },
  },
});

function retryable(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'unavailable' || code === 'deadline-exceeded' || code === 'internal' || code === 'unknown';
}

createApp(App).use(router).use(VueQueryPlugin, { queryClient }).mount('#app');
