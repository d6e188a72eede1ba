// pages/password-fields.js — the "new password" and "repeat it" pair used by
// activation, registration and password change. It checks only that the two
// match and are long enough to be worth sending; the server judges strength.

import { field } from '../dom.js';

export const MIN_LENGTH = 10;

// Returns {wraps, input, setError(msg), check() -> password string | null}.
export function passwordFields(label = 'New password') {
  const first = field({
    label, name: 'new-password', type: 'password', required: true,
    autocomplete: 'new-password', minlength: MIN_LENGTH,
    hint: 'At least ' + MIN_LENGTH + ' characters. A few unrelated words make a strong, memorable password.',
  });
  const again = field({
    label: 'Repeat the password', name: 'repeat-password', type: 'password', required: true,
    autocomplete: 'new-password',
  });
  return {
    wraps: [first.wrap, again.wrap],
    input: first.input,
    setError(msg) {
      first.setError(msg);
      if (msg) first.input.focus();
    },
    check() {
      first.setError(null);
      again.setError(null);
      const p = first.input.value;
      if (p.length < MIN_LENGTH) {
        first.setError('Use at least ' + MIN_LENGTH + ' characters.');
        first.input.focus();
        return null;
      }
      if (p !== again.input.value) {
        again.setError('The two passwords are not the same.');
        again.input.focus();
        return null;
      }
      return p;
    },
    reset() {
      first.input.value = '';
      again.input.value = '';
    },
  };
}
