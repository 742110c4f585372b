import { beforeAll, describe, expect, it } from 'vitest'
import { connectSnippets, installSnippet } from './snippets'
import { setProtocols } from './format'
import { parseMetrics, traffic } from './pages/overview'

// The server's protocol table, as GET /api/v1/protocols gives it.
beforeAll(() =>
  setProtocols([
    { name: 'npm', title: 'npm', prefix: '/npm', served: true },
    { name: 'oci', title: 'OCI', prefix: '', served: true },
    { name: 'pypi', title: 'PyPI', prefix: '/pypi', served: true },
    { name: 'cargo', title: 'Cargo', prefix: '/cargo', served: true },
    { name: 'maven', title: 'Maven', prefix: '/maven2', served: true },
    { name: 'composer', title: 'Composer', prefix: '/composer', served: true },
    { name: 'rubygems', title: 'RubyGems', prefix: '/rubygems', served: true },
    { name: 'go', title: 'Go', prefix: '/go', served: false },
  ]),
)

describe('connectSnippets', () => {
  const all = (base: string) => Object.fromEntries(connectSnippets(base).map((c) => [c.id, c.blocks.map((b) => b.code).join('\n')]))

  it('prints every client against the public URL', () => {
    const c = all('https://pkg.example.test')
    expect(Object.keys(c)).toEqual(['npm', 'pip', 'docker', 'cargo', 'maven', 'composer', 'gem'])
    expect(c.npm).toContain('registry=https://pkg.example.test/npm/\n//pkg.example.test/npm/:_authToken=srg_')
    expect(c.pip).toContain('index-url = https://__token__:srg_…@pkg.example.test/pypi/simple/')
    expect(c.pip).toContain('repository = https://pkg.example.test/pypi/')
    expect(c.docker).toContain('docker login pkg.example.test')
    expect(c.docker).not.toContain('insecure-registries')
    expect(c.cargo).toContain('index = "sparse+https://pkg.example.test/cargo/index/"')
    expect(c.maven).toContain('<url>https://pkg.example.test/maven2</url>')
    expect(c.composer).toContain('"url": "https://pkg.example.test/composer"')
    expect(c.gem).toContain('--host https://pkg.example.test/rubygems')
  })

  it('keeps the port and warns about plain http', () => {
    const c = all('http://127.0.0.1:8080')
    expect(c.npm).toContain('//127.0.0.1:8080/npm/:_authToken=')
    expect(c.docker).toContain('"insecure-registries": ["127.0.0.1:8080"]')
    expect(c.docker).toContain('podman login --tls-verify=false 127.0.0.1:8080')
    expect(c.composer).toContain('"secure-http": false')
    expect(c.composer).toContain('{"bearer": {"127.0.0.1:8080": "srg_…"}}')
  })

  it('install snippets', () => {
    const b = 'https://pkg.example.test'
    expect(installSnippet('npm', '@acme/w', '1.0.0', b)).toBe('npm config set @acme:registry https://pkg.example.test/npm/\nnpm install @acme/w@1.0.0')
    expect(installSnippet('pypi', 'acme-tools', '2.0', b)).toBe("pip install --index-url https://pkg.example.test/pypi/simple/ 'acme-tools==2.0'")
    expect(installSnippet('oci', 'acme/app', 'v1', b)).toBe('docker pull pkg.example.test/acme/app:v1')
    expect(installSnippet('maven', 'com.acme:lib', '1.2', b)).toContain('<artifactId>lib</artifactId>')
  })
})

describe('metrics', () => {
  it('reads the Prometheus text format', () => {
    const body = [
      '# HELP entrepot_cache_requests_total Cache lookups.',
      '# TYPE entrepot_cache_requests_total counter',
      'entrepot_cache_requests_total{result="hit"} 30',
      'entrepot_cache_requests_total{result="miss"} 10',
      'entrepot_http_response_bytes_total{protocol="npm",route="tarball"} 2048',
      'entrepot_http_response_bytes_total{protocol="ui",route="asset"} 999999',
      'entrepot_http_requests_total{protocol="npm",route="tarball",status="200"} 4',
      'go_goroutines 12',
    ].join('\n')
    const t = traffic(parseMetrics(body))
    expect(t).toEqual({ hits: 30, misses: 10, stale: 0, bytesServed: 2048, requests: 4 })
  })
})
