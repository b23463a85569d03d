import type { TableHTMLAttributes } from 'react';

/**
 * A table that scrolls sideways inside its own box when it is wider than the screen (a phone), so the page
 * itself never does. The box takes keyboard focus, so the hidden columns can be scrolled to without a mouse.
 */
export function Table({ label, ...props }: TableHTMLAttributes<HTMLTableElement> & { label: string }) {
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label={label}>
      <table {...props} />
    </div>
  );
}
