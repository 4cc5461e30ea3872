import { createApp } from 'vue';
import App from './App.vue';
import './styles.css';

// The session is the URL fragment: another checkout link opened in this tab changes only the
// fragment, which browsers do not reload for. Start over for it (replaceState does not fire this).
window.addEventListener('hashchange', () => window.location.reload());

createApp(App).mount('#app');
