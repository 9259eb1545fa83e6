import { describe, expect, it } from 'vitest'
import { appendChunk } from './logs'

describe('appendChunk', () => {
  it('keeps a line cut between chunks whole', () => {
    let [lines, partial] = appendChunk([], '', 'first\nsec')
    expect(lines).toEqual(['first'])
    expect(partial).toBe('sec')
    ;[lines, partial] = appendChunk(lines, partial, 'ond\nthird\n')
    expect(lines).toEqual(['first', 'second', 'third'])
    expect(partial).toBe('')
  })

  it('keeps only the latest lines', () => {
    const [lines] = appendChunk(['a', 'b'], '', 'c\nd\n', 3)
    expect(lines).toEqual(['b', 'c', 'd'])
  })
})
