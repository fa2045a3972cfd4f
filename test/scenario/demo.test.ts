import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/output.js';
import { DEMO_USER, type DemoAccount, runDemo } from '../demo/demo.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('the demo', () => {
  it('runs the whole job on the simulated account and exits 0', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), isTty: false };
    let account: DemoAccount | undefined;

    const code = await runDemo(io, { onAccount: (a) => (account = a) });

    const text = out.join('');
    expect(code).toBe(0);
    expect(err.join('')).toBe('');
    const sim = (account as DemoAccount).sim;
    expect(sim.users().length).toBeGreaterThanOrEqual(300);

    // 1. The audit's summary, then two owner mails exactly as their subscriptions received them.
    expect(text).toContain('$ iam-key-rotator audit\nAudit of account 123456789012, 2026-06-01');
    expect(text).toMatch(/Findings: \d+ expired key\(s\), 0 failure\(s\)\./);
    const shown = [
      ...text.matchAll(
        /--- mail to (\S+) \(SNS email subscription[^\n]*---\nSubject: ([^\n]*)\n\n([\s\S]*?)\n--- end of mail ---/g,
      ),
    ];
    expect(shown).toHaveLength(2);
    for (const [, endpoint, subject, body] of shown) {
      const delivered = sim.deliveries(endpoint).find((d) => d.subject === subject);
      expect(delivered?.message).toBe(body);
      expect(delivered?.attributes.owner).toBe(endpoint);
    }

    // 2-3. Enrolled by adoption, rotated now: the four steps in order, and the keys before and after.
    expect(text).toContain(`Enrolled ${DEMO_USER} (adopted secret iam-key-rotator/${DEMO_USER}).`);
    expect(text).toContain(`Rotation of ${DEMO_USER} completed.`);
    const steps = [...text.matchAll(/^(\d)\s+(createSecret|setSecret|testSecret|finishSecret)\s/gm)].map(
      (m) => m[2],
    );
    expect(steps).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    const secret = sim.secret(`iam-key-rotator/${DEMO_USER}`);
    const keys = sim.keys(DEMO_USER);
    expect(keys).toHaveLength(2);
    const [oldKey, newKey] = keys;
    expect(text).toMatch(
      new RegExp(`${oldKey?.accessKeyId}\\s+Active, 97 d, AWSCURRENT\\s+Active, 97 d, AWSPREVIOUS`),
    );
    expect(text).toMatch(new RegExp(`${newKey?.accessKeyId}\\s+did not exist\\s+Active, 0 d, AWSCURRENT`));
    expect(sim.valueAt(secret?.arn as string)).toContain(`"accesskey":"${newKey?.accessKeyId}"`);

    // 4. The audit a week later retires the previous keys whose grace ended.
    expect(text).toContain('== 4. The audit again, 8 days later ==');
    expect(text).toMatch(new RegExp(`${DEMO_USER}\\s+deactivate-previous\\s+done`));
    expect(sim.key(oldKey?.accessKeyId as string)?.status).toBe('Inactive');
    expect(text).toMatch(new RegExp(`${oldKey?.accessKeyId}\\s+Inactive\\s+105 d\\s+AWSPREVIOUS`));

    // Invariant 6: no secret access key, anywhere in the output.
    for (const s of sim.issuedSecrets()) expect(text).not.toContain(s);
  });

  it('`npm run demo` runs it in a child process and exits 0', async () => {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (done, fail) => {
        const child = spawn('npm', ['run', '--silent', 'demo'], {
          cwd: ROOT,
          env: { ...process.env, NO_COLOR: '1' },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => {
          stdout += d;
        });
        child.stderr.on('data', (d) => {
          stderr += d;
        });
        child.on('error', fail);
        child.on('close', (code) => done({ code, stdout, stderr }));
      },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Rotation of ${DEMO_USER} completed.`);
    expect(result.stdout).toContain('Done. AWS calls made by the demo');
    expect(result.stderr).not.toMatch(/Error|Warning/);
  });
});
