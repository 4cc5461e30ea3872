import { MutationCache, QueryCache, QueryClient, VueQueryPlugin } from '@tanstack/vue-query';
import { createApp } from 'vue';
import App from './App.vue';
import { router } from './router';
import { endSession, isSessionError } from './session';

// An expired or invalid session, wherever a call finds it: sign out, forget this user's cached
// data, and go to sign in, coming back to the same page afterwards.
let ending = false;
async function onCallError(error: unknown): Promise<void> {
  if (!isSessionError(error) || ending) return;
  ending = true;
  try {
    await endSession('Your session has expired. Sign in again.');
    queryClient.clear();
    const here = router.currentRoute.value;
    if (!here.meta.public) await router.push({ name: 'sign-in', query: { next: here.fullPath } });
  } finally {
    ending = false;
  }
}

const queryClient = new QueryClient({
  queryCache: new QueryCache({ onError: (error) => void onCallError(error) }),
  mutationCache: new MutationCache({ onError: (error) => void onCallError(error) }),
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
