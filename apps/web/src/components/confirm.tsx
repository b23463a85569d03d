import { KeyboardEvent, ReactNode, useEffect, useRef, useState } from 'react';

interface ConfirmProps {
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  destructive?: boolean;
  onConfirm(): void;
  onCancel(): void;
}

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * A modal question before a destructive action; Escape or Cancel backs out, focus starts on Cancel. Tab and
 * Shift+Tab cycle inside the dialog (a focus trap), so Escape keeps working however often Tab is pressed, and
 * focus returns to the control that opened it.
 */
export function ConfirmDialog({ title, children, confirmLabel, destructive, onConfirm, onCancel }: ConfirmProps) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  const dialogRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    cancelRef.current?.focus();
    return () => opener?.focus();
  }, []);
  function onKeyDown(e: KeyboardEvent) {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onCancel();
      return;
    }
    if (e.key !== 'Tab' || !dialogRef.current) return;
    const items = [...dialogRef.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    if (!items.length) return;
    const first = items[0]!;
    const last = items[items.length - 1]!;
    const inside = dialogRef.current.contains(document.activeElement);
    if (e.shiftKey && (document.activeElement === first || !inside)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (document.activeElement === last || !inside)) {
      e.preventDefault();
      first.focus();
    }
  }
  return (
    <div className="modal-backdrop" onKeyDown={onKeyDown}>
      <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title" ref={dialogRef}>
        <h2 id="confirm-title">{title}</h2>
        {children}
        <div className="modal-actions">
          <button type="button" ref={cancelRef} onClick={onCancel}>
            Cancel
          </button>
          <button type="button" className={destructive ? 'danger' : 'primary'} onClick={onConfirm}>
            {confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

/** `ask(...)` opens the dialog; `dialog` is the element to render. */
export function useConfirm() {
  const [pending, setPending] = useState<Omit<ConfirmProps, 'onCancel'> | null>(null);
  return {
    ask: (props: Omit<ConfirmProps, 'onCancel'>) => setPending(props),
    dialog: pending ? (
      <ConfirmDialog
        {...pending}
        onCancel={() => setPending(null)}
        onConfirm={() => {
          setPending(null);
          pending.onConfirm();
        }}
      />
    ) : null,
  };
}

interface ConfirmButtonProps {
  /** `confirm.ask` of the page's `useConfirm()`, whose `dialog` the page renders. */
  ask: ReturnType<typeof useConfirm>['ask'];
  /** The button's text, also the dialog's confirm button ("Delete", "Revoke"…). */
  label: string;
  /** Names the row the action is for; tests and screen readers find the button by it. */
  ariaLabel: string;
  /** The dialog's question. */
  title: string;
  /** What follows from it, shown under the question. */
  detail?: ReactNode;
  onConfirm(): void;
}

/** A row's destructive action: a red button that asks first, in the page's confirm dialog. */
export function ConfirmButton({ ask, label, ariaLabel, title, detail, onConfirm }: ConfirmButtonProps) {
  return (
    <button type="button" className="danger" aria-label={ariaLabel}
      onClick={() => ask({ title, destructive: true, confirmLabel: label, children: detail, onConfirm })}>
      {label}
    </button>
  );
}
