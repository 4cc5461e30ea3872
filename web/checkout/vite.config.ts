import { appConfig } from '../shared/vite-config.ts';

export default appConfig('checkout');
