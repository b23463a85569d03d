import { ReactNode, useEffect, useRef, useState } from 'react';

interface ConfirmProps {
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  destructive?: boolean;
  onConfirm(): void;
  onCancel(): void;
}

/** A modal question before a destructive action; Escape or Cancel backs out, focus starts on Cancel. */
export function ConfirmDialog({ title, children, confirmLabel, destructive, onConfirm, onCancel }: ConfirmProps) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => cancelRef.current?.focus(), []);
  return (
    <div className="modal-backdrop" onKeyDown={(e) => e.key === 'Escape' && onCancel()}>
      <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
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
