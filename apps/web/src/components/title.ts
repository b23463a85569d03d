import { useEffect } from 'react';

/** The browser tab says which page (and which record) is open: "Certificates · certctl". */
export function useDocumentTitle(title: string | undefined): void {
  useEffect(() => {
    document.title = title ? `${title} · certctl` : 'certctl';
  }, [title]);
}
