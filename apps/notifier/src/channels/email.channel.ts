import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Transporter } from 'nodemailer';
import type { NotificationsConfig } from '@certctl/config';
import { escapeHtml } from '@certctl/db';
import type { AlertMessage } from './alert-message';
import { factsOf, plainTextOf } from './alert-message';
import type { Channel } from './channel';
import { DeliveryError } from './delivery-errors';

const EMAIL_PATTERN = /^[^\s@<>,;]+@[^\s@<>,;]+$/;

/**
 * Classifies an SMTP failure: a 5xx reply (rejected recipient, refused message, failed authentication) will
 * be refused again; 4xx replies and connection trouble may pass later.
 */
export function smtpFailure(err: unknown): DeliveryError {
  const e = err as { responseCode?: number; code?: string; message?: string };
  const reason = `SMTP ${e.responseCode ?? e.code ?? 'error'}: ${(e.message ?? String(err)).slice(0, 300)}`;
  if (typeof e.responseCode === 'number') return new DeliveryError(reason, e.responseCode >= 500);
  // Without a reply code: a bad envelope, message or credentials stays bad; connection trouble may pass.
  return new DeliveryError(reason, e.code === 'EENVELOPE' || e.code === 'EMESSAGE' || e.code === 'EAUTH');
}

/** Email over SMTP (nodemailer, pooled): STARTTLS required when CERTCTL_SMTP_USE_TLS, implicit TLS on 465. */
export class EmailChannel implements Channel {
  readonly name = 'Email' as const;
  private transport: Transporter | undefined;

  constructor(private readonly config: NotificationsConfig) {}

  private transporter(): Transporter {
    const smtp = this.config.smtp;
    if (!smtp.host) throw DeliveryError.notConfigured('Email is not configured (CERTCTL_SMTP_HOST)');
    if (!this.transport) {
      const implicitTls = smtp.useTls && smtp.port === 465;
      const extraCa = smtp.caCertPath ? [readFileSync(smtp.caCertPath, 'utf8')] : [];
      // nodemailer is loaded by the first email, not at boot: a notifier without an SMTP channel never needs it.
      const nodemailer = require('nodemailer') as typeof import('nodemailer');
      this.transport = nodemailer.createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: implicitTls,
        requireTLS: smtp.useTls && !implicitTls,
        ignoreTLS: !smtp.useTls,
        auth: smtp.username ? { user: smtp.username, pass: smtp.password ?? '' } : undefined,
        tls: extraCa.length ? { ca: [...rootCertificates, ...extraCa] } : undefined,
        pool: true,
        maxConnections: 5,
        connectionTimeout: this.config.httpTimeoutMs,
        greetingTimeout: this.config.httpTimeoutMs,
        socketTimeout: this.config.httpTimeoutMs * 3,
        logger: false,
      });
    }
    return this.transport;
  }

  async send(message: AlertMessage): Promise<void> {
    const to = message.recipient.trim();
    if (!to) throw DeliveryError.permanent('no email recipient: the certificate owner has no email and CERTCTL_NOTIFICATION_DEFAULT_RECIPIENT is unset');
    if (!EMAIL_PATTERN.test(to)) throw DeliveryError.permanent(`not an email address: ${to.slice(0, 100)}`);
    const transport = this.transporter();
    const content = message.digest ?? renderAlert(message);
    try {
      await transport.sendMail({
        from: this.config.smtp.fromAddress,
        to,
        subject: content.subject,
        text: content.text,
        html: content.html,
        headers: { 'X-Certctl-Notification-Id': message.notificationId, 'X-Certctl-Event': message.type },
      });
    } catch (err) {
      throw smtpFailure(err);
    }
  }

  close(): void {
    this.transport?.close();
  }
}

function renderAlert(message: AlertMessage): { subject: string; text: string; html: string } {
  const rows = factsOf(message)
    .map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${k === 'Link' ? `<a href="${escapeHtml(v)}">${escapeHtml(v)}</a>` : escapeHtml(v)}</td></tr>`)
    .join('');
  const html = `<!doctype html><html><body style="font-family:sans-serif"><h3>${escapeHtml(message.title)}</h3>` +
    `<p>${escapeHtml(message.text)}</p><table cellpadding="4">${rows}</table></body></html>`;
  return { subject: `[certctl] ${message.title}`, text: plainTextOf(message), html };
}
