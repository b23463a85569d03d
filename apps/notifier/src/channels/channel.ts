import type { NotificationChannel } from '@certctl/contracts';
import type { AlertMessage } from './alert-message';

/** One delivery channel. `send` resolves when the peer accepted the message and throws DeliveryError otherwise. */
export interface Channel {
  readonly name: NotificationChannel;
  send(message: AlertMessage): Promise<void>;
  close?(): Promise<void> | void;
}
