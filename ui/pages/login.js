// pages/login.js — sign in by pasting a token (the one-time link of
// `weft token create USER --login` signs in without this page).
import { h, errorBox } from '../dom.js';

export async function render(root, ctx) {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card narrow' },
    h('h1', {}, 'Sign in to weft'),
    ctx.user ? h('p', {}, 'You are signed in as ', h('strong', {}, ctx.user), '. A new token replaces it.') : null,
    h('p', {}, 'Open the link printed by ', h('code', {}, 'weft token create USER --login'),
      ', or paste a token printed by ', h('code', {}, 'weft token create USER'), '.'),
    h('label', { for: 'token' }, 'Token'), input,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'), msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    try {
      await ctx.signedIn(input.value.trim());
    } catch (e) {
      msg.append(errorBox(e));
    }
  });
  root.append(form);
  input.focus();
}
