import { describe, expect, it } from '@jest/globals';
import { bootPatternProblem, compileBootPattern } from './boot-pattern.js';

describe('bootPatternProblem', () => {
  it.each([
    'Calling app_main\\(\\)[\\s\\S]*ready',
    'ready!',
    '(ab)+',
    '[a-z]+x',
    '(a|b)*c',
    'a{2,}',
    '(a{1}){3}',
    'boot (ok|done)',
  ])('accepts %s', (pattern) => {
    expect(bootPatternProblem(pattern)).toBeUndefined();
  });

  it.each([
    ['(.*\\s?)*!', /repeats a group that itself repeats \(\(\.\*\\s\?\)\*\)/],
    ['(a+)+b', /repeats a group/],
    ['((a+)?)*', /repeats a group/],
    ['(?:x*)+', /repeats a group/],
    ['([a-z]+\\d*){2,}', /repeats a group/],
    ['(a)\\1', /RE2 has no backreferences/],
    ['(?=a)', /RE2 has no backreferences or lookaround/],
    ['(', /not a regular expression RE2 accepts/],
    ['(?P<n>a)', /not a JavaScript regular expression/],
    ['x'.repeat(501), /at most 500/],
  ])('refuses %s', (pattern, why) => {
    expect(bootPatternProblem(pattern)).toMatch(why);
  });

  it('compiles an accepted pattern to a linear-time matcher', () => {
    expect(compileBootPattern('boot (ok|done)').matcher('... boot done').find()).toBe(true);
    expect(() => compileBootPattern('(a+)+')).toThrow(/refused/);
  });
});
