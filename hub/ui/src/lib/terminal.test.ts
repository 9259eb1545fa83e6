import { describe, expect, it } from 'vitest'
import { commandArgs, exitText, resizeMessage, terminalUrl } from './terminal'

describe('terminal', () => {
  it('splits the command line into arguments, sh when blank', () => {
    expect(commandArgs('  ls   -la /tmp ')).toEqual(['ls', '-la', '/tmp'])
    expect(commandArgs('   ')).toEqual(['sh'])
  })

  it('builds the WebSocket URL on the page host, one command parameter per argument', () => {
    const url = terminalUrl('a b', { container: 'app', command: 'sh -l', cols: 80, rows: 24 }, { protocol: 'https:', host: 'hub.example:8443' })
    expect(url).toBe('wss://hub.example:8443/api/v1/k8s/pods/a%20b/exec?container=app&command=sh&command=-l&tty=true&cols=80&rows=24')
    expect(terminalUrl('p', { container: '', command: '', cols: 1, rows: 2 }, { protocol: 'http:', host: 'h' })).toBe(
      'ws://h/api/v1/k8s/pods/p/exec?command=sh&tty=true&cols=1&rows=2',
    )
  })

  it('reads the exit message in words', () => {
    expect(exitText('{"type":"exit","code":0,"message":""}')).toBe('The command ended (exit code 0).')
    expect(exitText('{"type":"exit","code":2,"message":"command terminated with non-zero exit code"}')).toBe(
      'The command ended with exit code 2: command terminated with non-zero exit code.',
    )
    expect(exitText('{"type":"exit","code":null,"message":"idle for 900 s: closed by the hub"}')).toBe(
      'The terminal closed: idle for 900 s: closed by the hub.',
    )
    expect(exitText('not json')).toBeNull()
    expect(resizeMessage(120, 40)).toBe('{"type":"resize","cols":120,"rows":40}')
  })
})
