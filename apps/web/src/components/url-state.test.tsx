import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { MemoryRouter, useLocation } from 'react-router';
import { afterEach, describe, expect, it } from 'vitest';
import { useUrlState } from './url-state';

afterEach(cleanup);

function Filters() {
  const { values, set } = useUrlState(['status', 'issuer_id'] as const);
  const location = useLocation();
  return (
    <>
      {/* Two changes before React renders again, as two quick selects on a busy machine make them. */}
      <button type="button" onClick={() => { set({ status: 'Expired' }); set({ issuer_id: 'iss-le' }); }}>both</button>
      <output aria-label="search">{location.search}</output>
      <output aria-label="values">{`${values.status}|${values.issuer_id}`}</output>
    </>
  );
}

describe('useUrlState', () => {
  it('keeps both of two filter changes made before the next render (neither overwrites the other), back to page 1', () => {
    render(<MemoryRouter initialEntries={['/certificates?page=3&environment=prod']}><Filters /></MemoryRouter>);
    fireEvent.click(screen.getByRole('button', { name: 'both' }));
    const search = new URLSearchParams(screen.getByLabelText('search').textContent ?? '');
    expect(Object.fromEntries(search)).toEqual({ environment: 'prod', status: 'Expired', issuer_id: 'iss-le' });
    expect(screen.getByLabelText('values').textContent).toBe('Expired|iss-le');
  });
});
